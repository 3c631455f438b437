#!/bin/bash
# Kernel-client throughput, run by init.sh instead of the suite when
# KSUITE_RUN=bench. Works on /mnt/test (the target) and on the data the host
# left in the export's kbench/ directory: seq.bin (one large file) and
# small/ (many 4 KiB files). Between steps the guest's caches are dropped,
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

seq_read() { # NAME
	local t0 t1 bytes
	drop
	bytes=$(stat -c %s "$B/seq.bin")
	ops
	t0=$(now)
	dd if="$B/seq.bin" of=/dev/null bs=1M status=none || return 1
	t1=$(now)
	ops "$1"
	put "$1" "$(echo "$bytes $t0 $t1" | awk '{printf "%.1f", $1 / 1048576 / ($3 - $2)}')" MiB/s
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
small stat_cold stat "$B/small" || exit 1
small stat_warm stat "$B/small" || exit 1
small read_cold read "$B/small" || exit 1
small read_warm read "$B/small" || exit 1
small create create "$TEST_DIR/created" "${KSUITE_BENCH_CREATE:-500}" 4096 || exit 1
exit 0
