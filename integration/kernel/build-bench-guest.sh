#!/usr/bin/env bash
# Builds the benchmark guest from the test guest: a copy of BASE (the
# output of build-guest.sh, as cached by EnsureGuest) whose root image is
# grown by 2 GiB and gets nfs-kernel-server, cachefilesd and fio, so that
# BenchmarkKernelClient can also measure the usual way of building an NFS
# cache today (knfsd re-exporting an NFS mount with fsc, cachefilesd on a
# local cache directory) and run fio in the guest.
#
#   OUT/vmlinuz, OUT/initrd.img, OUT/kernel-version   copied from BASE
#   OUT/root.img    BASE's root.img, grown, with the extra packages
#   OUT/build.log   what apt said
#
# Usage: build-bench-guest.sh BASE OUT   (as root; OUT must not exist yet)
#
# The test guest (BASE) is not modified: CI's kernel test keeps its own
# image and cache key (a hash of build-guest.sh alone). The Go side
# (EnsureBenchGuest in guest.go) caches OUT under a key that hashes BASE's
# key and this file. Needs a loop device (mount -o loop).
set -euo pipefail

base=${1:?usage: build-bench-guest.sh BASE OUT}
out=${2:?usage: build-bench-guest.sh BASE OUT}

die() {
	echo "build-bench-guest.sh: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (mount, chroot)"
[ ! -e "$out" ] || die "$out already exists"
for f in vmlinuz initrd.img kernel-version root.img; do
	[ -r "$base/$f" ] || die "$base/$f missing: build the test guest first"
done
export PATH="$PATH:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

work=$(mktemp -d "${out%/}.tmp.XXXXXX")
root=$work/rootfs
log=$work/build.log
cleanup() {
	local rc=$?
	for m in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev" "$root"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	if [ $rc -ne 0 ]; then
		echo "build-bench-guest.sh: failed; last lines of $log:" >&2
		tail -n 30 "$log" >&2 || true
		rm -rf "$work"
	fi
}
trap cleanup EXIT

step() { echo "build-bench-guest.sh: $*"; echo "=== $*" >>"$log"; }

step "copy the test guest from $base"
cp "$base/vmlinuz" "$base/initrd.img" "$base/kernel-version" "$work/"
cp --sparse=always "$base/root.img" "$work/root.img"
# Room for the packages and for the caches the benchmark fills in the
# guest (cachefiles, the proxy's cache dir): the root disk is the only
# disk, booted with snapshot=on, so what the guest writes lands in QEMU's
# temporary overlay on the host.
truncate -s +2G "$work/root.img"
e2fsck -f -y "$work/root.img" >>"$log" 2>&1 || [ $? -le 1 ] || die "e2fsck failed"
resize2fs "$work/root.img" >>"$log" 2>&1

mkdir -p "$root"
mount -o loop "$work/root.img" "$root"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts"

step "apt-get install nfs-kernel-server cachefilesd fio"
chroot "$root" apt-get update -qq >>"$log" 2>&1
chroot "$root" apt-get install -y -q --no-install-recommends \
	nfs-kernel-server cachefilesd fio >>"$log" 2>&1

step "check the kernel modules knfsd and fsc need"
kver=$(cat "$work/kernel-version")
for m in nfsd cachefiles fscache netfs; do
	if p=$(find "$root/lib/modules/$kver" -name "$m.ko*" | head -n 1) && [ -n "$p" ]; then
		echo "module $m: ${p#$root}" >>"$log"
	elif grep -q "/$m.ko" "$root/lib/modules/$kver/modules.builtin" 2>/dev/null; then
		echo "module $m: built in" >>"$log"
	else
		echo "module $m: none" >>"$log"
	fi
done
grep -q 'module nfsd: none' "$log" && die "kernel $kver has no nfsd module"
grep -q 'module cachefiles: none' "$log" && die "kernel $kver has no cachefiles module"
chroot "$root" sh -c 'command -v rpc.nfsd && command -v exportfs && command -v cachefilesd && command -v fio' >>"$log" 2>&1 ||
	die "a tool is missing after the install"
mkdir -p "$root/var/cache/fscache" "$root/srv/far"

rm -f "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get clean >>"$log" 2>&1
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
for m in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev" "$root"; do
	umount "$m"
done
e2fsck -f -y "$work/root.img" >>"$log" 2>&1 || [ $? -le 1 ] || die "e2fsck after the install failed"
rmdir "$root"
mv -T "$work" "$out"
trap - EXIT
echo "build-bench-guest.sh: built $out (kernel $kver; $(grep '^module' "$out/build.log" | tr '\n' ' '))"
