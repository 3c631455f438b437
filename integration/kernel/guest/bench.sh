#!/bin/bash
# Kernel-client throughput, run by init.sh instead of the suite when
# KSUITE_RUN=bench. Works on /mnt/test (the target) and on the data the host
# left in the export's kbench/ directory: seq.bin (one large file), rand.bin
# (the random-read file), small/ (many 4 KiB files) and list/ (the
# directory of empty files that `ls -l` lists). Sequential and random reads
# use fio when the guest has it (the bench guest of build-bench-guest.sh
# does); without fio the sequential read is dd and there is no random read. Between steps the guest's caches are dropped,
# so "cold" and "warm" describe the server side: the first and second
# time the target is asked for the data. Writes "NAME VALUE UNIT" lines to
# $RESULT_DIR/bench, and the NFS calls each step made to $RESULT_DIR/bench.ops.
set -u
export PATH=/ksuite/bin:$PATH LC_ALL=C
B=/mnt/test/kbench
out=$RESULT_DIR/bench
: >"$out"

drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
now() { date +%s.%N; }
put() { echo "$1 $2 $3" | tee -a "$out"; }

# The client's NFSv3 call counts (all mounts; only /mnt/test is busy here),
# to explain a number: ops STEP appends the calls made since the last call.
procs3=(null getattr setattr lookup access readlink read write create mkdir symlink mknod
	remove rmdir rename link readdir readdirplus fsstat fsinfo pathconf commit)
prev=()
ops() {
	local cur i line=""
	read -r -a cur < <(awk '$1 == "proc3" {for (i = 3; i <= NF; i++) printf "%s ", $i}' /proc/net/rpc/nfs)
	if [ -n "${1:-}" ]; then
		for i in "${!cur[@]}"; do
			d=$((cur[i] - ${prev[i]:-0}))
			[ "$d" -gt 0 ] && line+=" ${procs3[i]}=$d"
		done
		echo "$1:$line" >>"$RESULT_DIR/bench.ops"
	fi
	prev=("${cur[@]}")
}

have_fio=false
command -v fio >/dev/null 2>&1 && have_fio=true

# fio_read NAME FILE RW BS [FIO-ARGS…]: one fio job, one process, sync
# reads; prints fio's terse v3 line (field 7 = read KiB/s, 8 = read IOPS).
fio_read() {
	local name=$1 file=$2 rw=$3 bs=$4 r
	shift 4
	r=$(fio --name="$name" --filename="$file" --readonly --rw="$rw" --bs="$bs" \
		--ioengine=psync --numjobs=1 --output-format=terse --terse-version=3 "$@") || return 1
	echo "$r" >>"$RESULT_DIR/bench.fio"
	echo "$r"
}

seq_read() { # NAME
	local t0 t1 bytes r
	drop
	bytes=$(stat -c %s "$B/seq.bin")
	ops
	if $have_fio; then
		r=$(fio_read "$1" "$B/seq.bin" read 1M) || return 1
		ops "$1"
		put "$1" "$(echo "$r" | awk -F';' '{printf "%.1f", $7 / 1024}')" MiB/s
		return 0
	fi
	t0=$(now)
	dd if="$B/seq.bin" of=/dev/null bs=1M status=none || return 1
	t1=$(now)
	ops "$1"
	put "$1" "$(echo "$bytes $t0 $t1" | awk '{printf "%.1f", $1 / 1048576 / ($3 - $2)}')" MiB/s
}

# rand_read NAME: 4 KiB O_DIRECT reads at random offsets of rand.bin (the
# same offsets every time: fio's fixed seed), so every read reaches the
# server and "warm" re-reads exactly what "cold" read.
rand_read() {
	local r
	$have_fio || return 0
	drop
	ops
	r=$(fio_read "$1" "$B/rand.bin" randread 4k --direct=1 --randrepeat=1 \
		--io_size="${KSUITE_BENCH_RAND_IO:-4m}") || return 1
	ops "$1"
	put "$1" "$(echo "$r" | awk -F';' '{printf "%.1f", $8}')" IOPS
}

# ls_l NAME: `ls -l` of list/ (readdir + an lstat of every entry).
ls_l() {
	local t0 t1 n
	drop
	ops
	t0=$(now)
	n=$(ls -l "$B/list" | grep -c '^-') || return 1
	t1=$(now)
	ops "$1"
	put "$1" "$(echo "$n $t0 $t1" | awk '{printf "%.1f", $1 / ($3 - $2)}')" files/s
}

small() { # NAME KTOOL-ARGS…
	local name=$1 r
	shift
	drop
	ops
	r=$(ktool smallfiles "$@") || return 1
	ops "$name"
	put "$name" "$(echo "$r" | awk '$1 == "per_second" {print $2}')" files/s
}

seq_read seq_read_cold || exit 1
seq_read seq_read_warm || exit 1
rand_read rand_read_cold || exit 1
rand_read rand_read_warm || exit 1
small stat_cold stat "$B/small" || exit 1
small stat_warm stat "$B/small" || exit 1
small read_cold read "$B/small" || exit 1
small read_warm read "$B/small" || exit 1
if [ -d "$B/list" ]; then
	ls_l ls_l_cold || exit 1
	ls_l ls_l_warm || exit 1
fi
small create create "$TEST_DIR/created" "${KSUITE_BENCH_CREATE:-500}" 4096 || exit 1
exit 0
