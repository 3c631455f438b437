#!/bin/bash
# Runs inside the guest (started by /sbin/ksuite-init from the virtio-9p share
# mounted at /ksuite). Brings up QEMU user networking, mounts the upstream
# (ganesha, directly) at /mnt/upstream, then for each target in
# KSUITE_TARGETS mounts it at /mnt/test and runs the suite's check script.
# Results go to /ksuite/out/<target>/ (the host reads them); progress and
# "@@KSUITE" marker lines go to the serial console.
#
# /ksuite/params.env (written by the host) sets:
#   KSUITE_SERVER            host address as the guest sees it (10.0.2.2)
#   KSUITE_EXPORT            export path (/export)
#   KSUITE_UPSTREAM_OPTS     mount options naming ganesha's ports
#   KSUITE_UPSTREAM_LOCKSERVER address of ganesha for mounts with locks
#   KSUITE_TARGETS           e.g. "direct proxy"
#   KSUITE_OPTS_<target>     mount options naming the target's ports
#   KSUITE_MODE_<target>     coherency mode of the target (direct, cto, ttl, static)
#   KSUITE_LOCKSERVER_<target> address the lock test mounts the target at
#                            (without nolock); "" when locking is unreachable
#   KSUITE_GROUP, KSUITE_TESTS, KSUITE_SCALE, KSUITE_TEST_TIMEOUT, KSUITE_CTL
#   KSUITE_RUN               "bench" runs guest/bench.sh instead of the suite
#   KSUITE_SERVER_<target>, KSUITE_EXPORT_<target>  (benchmark only) what
#                            to mount instead of KSUITE_SERVER:KSUITE_EXPORT
#   KSUITE_SETUP_<target>    (benchmark only) guest/setup-<name>.sh start
#                            runs before the mount (with KSUITE_FAR_OPTS set
#                            from KSUITE_FAR_OPTS_<target>), stop after it
set -u
export PATH=/ksuite/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
mark() { echo "@@KSUITE $*"; }

. /ksuite/params.env || { mark "error: no params.env"; exit 1; }
out=/ksuite/out
mkdir -p "$out"

mark "guest: kernel $(uname -r), $(nproc) cpus, uptime $(cut -d' ' -f1 /proc/uptime)s"
echo 1 >/proc/sys/kernel/sysrq
dmesg -n 4 2>/dev/null

iface=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
ip link set lo up
ip link set "$iface" up &&
	ip addr add 10.0.2.15/24 dev "$iface" &&
	ip route add default via 10.0.2.2 ||
	{ mark "error: network setup on '$iface' failed"; exit 1; }
modprobe nfs 2>/dev/null; modprobe nfsv3 2>/dev/null
# Locking (NLM) needs the guest's rpcbind (the kernel's lockd registers
# with it) and rpc.statd (lockd asks it to monitor each server), and a host
# name other than "(none)" (it is the caller_name of every lock).
hostname ksuite
rpcbind -w || mark "warning: rpcbind did not start"
rpc.statd --no-notify || mark "warning: rpc.statd did not start"

base_opts=vers=3,proto=tcp,nolock,mountproto=tcp,nosharecache
mount_nfs() { # OPTS DIR [SERVER:EXPORT]
	local i
	for i in 1 2 3 4 5; do
		mount -t nfs -o "$base_opts,$1" "${3:-$KSUITE_SERVER:$KSUITE_EXPORT}" "$2" && return 0
		sleep 2
	done
	return 1
}

mkdir -p /mnt/upstream /mnt/test
if ! mount_nfs "$KSUITE_UPSTREAM_OPTS" /mnt/upstream; then
	mark "error: cannot mount the upstream ($KSUITE_UPSTREAM_OPTS)"
	dmesg | tail -n 20
	exit 1
fi
mark "upstream mounted: $(grep ' /mnt/upstream ' /proc/mounts)"

for target in $KSUITE_TARGETS; do
	optvar=KSUITE_OPTS_$target
	modevar=KSUITE_MODE_$target
	lockvar=KSUITE_LOCKSERVER_$target
	servervar=KSUITE_SERVER_$target
	exportvar=KSUITE_EXPORT_$target
	setupvar=KSUITE_SETUP_$target
	farvar=KSUITE_FAR_OPTS_$target
	server=${!servervar:-$KSUITE_SERVER}
	export_=${!exportvar:-$KSUITE_EXPORT}
	setup=${!setupvar:-}
	res=$out/$target
	mkdir -p "$res"
	if [ -n "$setup" ]; then
		mark "target $target: setup-$setup.sh start"
		if ! KSUITE_FAR_OPTS=${!farvar} RESULT_DIR=$res \
			/bin/bash "/ksuite/guest/setup-$setup.sh" start >"$res/setup.log" 2>&1; then
			mark "target $target: error: setup failed: $(tail -n 5 "$res/setup.log" | tr '\n' ' ')"
			echo "setup-$setup.sh failed" >"$res/error"
			dmesg | tail -n 40 >"$res/dmesg"
			KSUITE_FAR_OPTS=${!farvar} RESULT_DIR=$res /bin/bash "/ksuite/guest/setup-$setup.sh" stop >>"$res/setup.log" 2>&1
			continue
		fi
	fi
	mark "target $target: mounting $server:$export_ (${!optvar})"
	if ! mount_nfs "${!optvar}" /mnt/test "$server:$export_"; then
		mark "target $target: error: mount failed"
		echo "mount failed" >"$res/error"
		dmesg | tail -n 20 >"$res/dmesg"
		continue
	fi
	grep ' /mnt/test ' /proc/mounts >"$res/mount"
	rm -rf "/mnt/test/ksuite.$target"
	mkdir -p "/mnt/test/ksuite.$target"
	(
		export KSUITE_TARGET=$target KSUITE_MODE=${!modevar}
		export TEST_DIR=/mnt/test/ksuite.$target
		export UPSTREAM_DIR=/mnt/upstream/ksuite.$target
		export UPSTREAM_OPTS="$base_opts,$KSUITE_UPSTREAM_OPTS"
		export UPSTREAM_SPEC="$KSUITE_SERVER:$KSUITE_EXPORT"
		export TARGET_OPTS="$base_opts,${!optvar}" TARGET_SERVER=$server TARGET_EXPORT=$export_
		# The same mount with locking (no nolock), at the lock server address.
		export LOCK_SERVER=${!lockvar:-} LOCK_OPTS="${base_opts/,nolock/},${!optvar}"
		export LOCK_UPSTREAM_OPTS="${base_opts/,nolock/},$KSUITE_UPSTREAM_OPTS"
		export LOCK_UPSTREAM_SPEC="${KSUITE_UPSTREAM_LOCKSERVER:-}:$KSUITE_EXPORT"
		export RESULT_DIR=$res
		if [ "${KSUITE_RUN:-suite}" = bench ]; then
			exec /bin/bash /ksuite/guest/bench.sh
		fi
		cd /ksuite/suite || exit 1
		# shellcheck disable=SC2086
		./check -g "$KSUITE_GROUP" $KSUITE_TESTS
	)
	status=$?
	mark "target $target: check exited $status: $(cat "$res/summary" 2>/dev/null)"
	echo "$status" >"$res/exit"
	dmesg >"$res/dmesg"
	umount /mnt/test || umount -f -l /mnt/test
	if [ -n "$setup" ]; then
		mark "target $target: setup-$setup.sh stop"
		KSUITE_FAR_OPTS=${!farvar} RESULT_DIR=$res /bin/bash "/ksuite/guest/setup-$setup.sh" stop >>"$res/setup.log" 2>&1
	fi
done
umount /mnt/upstream 2>/dev/null
mark "done"
exit 0
