#!/bin/bash
# Benchmark target "knfsd" (run by init.sh: setup-knfsd.sh start|stop): the
# way an NFS cache is usually built today. The guest mounts the far
# upstream (the host's ganesha behind the WAN relay, KSUITE_FAR_OPTS) with
# fsc at /srv/far, cachefilesd keeps that mount's cache in
# /var/cache/fscache on the guest's disk, and the kernel NFS server (knfsd)
# re-exports /srv/far over NFSv3; init.sh then mounts 127.0.0.1:/srv/far.
# Re-exporting NFS needs fsid= (an NFS mount has no device number knfsd can
# put in its file handles); crossmnt lets a client walk into mounts below.
# Needs the bench guest (build-bench-guest.sh): nfs-kernel-server,
# cachefilesd, and the stock kernel's nfsd and cachefiles modules.
#
# Writes to RESULT_DIR: knfsd.info (the modules, the mount, the export,
# fscache's caches) at start; fscache.stats and fscache.du at stop.
set -u
export PATH=/ksuite/bin:/usr/sbin:/usr/bin:/sbin:/bin
cache=/var/cache/fscache
far=/srv/far
mountd_port=20048

# wait_for WHAT SECONDS CMD…: polls CMD until it succeeds; fails naming WHAT.
wait_for() {
	local what=$1 secs=$2 end
	shift 2
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			echo "setup-knfsd.sh: timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.2
	done
}

start() {
	set -e
	modprobe cachefiles
	modprobe nfsd
	mkdir -p "$cache" "$far"
	cat >/etc/cachefilesd.conf <<EOC
dir $cache
tag kbench
brun 10%
bcull 7%
bstop 3%
frun 10%
fcull 7%
fstop 3%
EOC
	cachefilesd -f /etc/cachefilesd.conf
	# The cache is bound once cachefilesd has written "bind" to
	# /dev/cachefiles; /proc/fs/fscache/caches then lists it.
	wait_for "fscache to list the kbench cache" 30 grep -q kbench /proc/fs/fscache/caches
	mount -t nfs -o "vers=3,proto=tcp,nolock,mountproto=tcp,fsc,$KSUITE_FAR_OPTS" 10.0.2.2:/export "$far"
	grep " $far " /proc/mounts | grep -q fsc
	mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
	# The guest image has no /etc/mtab, and rpc.mountd 2.6.2 walks it
	# (setmntent) for crossmnt exports when it resolves a file handle:
	# without it mountd dies in getmntent(NULL) at the client's first
	# call ("segfault at 0 … in libc.so.6") and the mount hangs.
	[ -e /etc/mtab ] || ln -s ../proc/self/mounts /etc/mtab
	echo "$far 127.0.0.1(rw,sync,no_root_squash,no_subtree_check,crossmnt,fsid=1001)" >/etc/exports
	exportfs -ra
	rpc.mountd --foreground --port "$mountd_port" --no-nfs-version 4 >"$RESULT_DIR/mountd.log" 2>&1 &
	rpc.nfsd --no-nfs-version 4 8
	wait_for "knfsd (nfs v3 in rpcbind)" 30 sh -c 'rpcinfo -p 127.0.0.1 | grep -q " 3 *tcp *2049 *nfs"'
	wait_for "mountd (mountd v3 in rpcbind)" 30 sh -c "rpcinfo -p 127.0.0.1 | grep -q ' 3 *tcp *$mountd_port *mountd'"
	# A soft mount that gives up quickly shows that the export works
	# before init.sh makes its hard mount; when it does not, say why.
	mkdir -p /mnt/probe
	if ! timeout 60 mount -t nfs -o "vers=3,proto=tcp,nolock,mountproto=tcp,soft,timeo=50,retrans=1,retry=0,port=2049,mountport=$mountd_port" \
		127.0.0.1:"$far" /mnt/probe; then
		diag
		return 1
	fi
	timeout 60 ls /mnt/probe >/dev/null || { diag; umount -f -l /mnt/probe; return 1; }
	umount /mnt/probe
	{
		echo "== lsmod"
		lsmod | grep -E '^(nfsd|cachefiles|fscache|netfs|nfs) ' || true
		echo "== far mount"
		grep " $far " /proc/mounts
		echo "== exportfs -v"
		exportfs -v
		echo "== /proc/fs/fscache/caches"
		cat /proc/fs/fscache/caches
		echo "== /proc/fs/fscache/volumes"
		cat /proc/fs/fscache/volumes 2>/dev/null
	} >"$RESULT_DIR/knfsd.info" 2>&1
	set +e
}

# diag: what knfsd, mountd and the kernel say, for a mount that fails.
diag() {
	set +e
	{
		echo "== rpcinfo -p 127.0.0.1"; timeout 10 rpcinfo -p 127.0.0.1
		echo "== showmount -e 127.0.0.1"; timeout 10 showmount -e 127.0.0.1
		for f in auth.unix.ip nfsd.export nfsd.fh; do
			echo "== /proc/net/rpc/$f/content"; cat /proc/net/rpc/$f/content
		done
		echo "== /proc/fs/nfsd/threads"; cat /proc/fs/nfsd/threads
		echo "== /proc/fs/nfsd/versions"; cat /proc/fs/nfsd/versions
		echo "== ps"; ps -eo pid,stat,wchan:30,args
		echo "== mountd.log"; tail -n 40 "$RESULT_DIR/mountd.log"
		echo "== dmesg"; dmesg | tail -n 15
	} >>"$RESULT_DIR/knfsd.diag" 2>&1
	cat "$RESULT_DIR/knfsd.diag" >&2
}

stop() {
	cat /proc/fs/fscache/stats >"$RESULT_DIR/fscache.stats" 2>&1
	du -sk "$cache" >"$RESULT_DIR/fscache.du" 2>&1
	rpc.nfsd 0
	exportfs -ua
	pkill -x rpc.mountd
	umount "$far" || umount -f -l "$far"
	pkill -x cachefilesd
	return 0
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) echo "usage: setup-knfsd.sh start|stop" >&2; exit 2 ;;
esac
