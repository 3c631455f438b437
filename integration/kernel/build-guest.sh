#!/usr/bin/env bash
# Builds the kernel-client test guest from Debian packages only:
#
#   OUT/vmlinuz     the kernel of linux-image-amd64
#   OUT/initrd.img  its initramfs (initramfs-tools, a short module list)
#   OUT/root.img    an ext4 image of a minimal bookworm (debootstrap minbase
#                   + nfs-common, netbase, util-linux, procps, iproute2, kmod)
#                   whose init is /sbin/ksuite-init
#   OUT/build.log   what debootstrap and apt said
#
# Usage: build-guest.sh OUT   (as root; OUT must not exist yet)
#
# Installs what it needs on the host with apt (debootstrap, e2fsprogs,
# qemu-system-x86) when missing. The guest's own behaviour lives outside the
# image: /sbin/ksuite-init only mounts the virtio-9p share tagged "ksuite" and
# runs /ksuite/guest/init.sh from it, so changing the suite never rebuilds the
# image. The Go side (guest.go) caches OUT under a key that hashes this file.
#
# Environment: KSUITE_MIRROR (default http://deb.debian.org/debian),
# KSUITE_SUITE (default bookworm).
set -euo pipefail

out=${1:?usage: build-guest.sh OUT}
mirror=${KSUITE_MIRROR:-http://deb.debian.org/debian}
suite=${KSUITE_SUITE:-bookworm}

die() {
	echo "build-guest.sh: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mkfs)"
[ ! -e "$out" ] || die "$out already exists"
export PATH="$PATH:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# Host tools.
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "build-guest.sh: installing ${missing[*]}"
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi

work=$(mktemp -d "${out%/}.tmp.XXXXXX")
root=$work/rootfs
log=$work/build.log
cleanup() {
	local rc=$?
	for m in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	if [ $rc -ne 0 ]; then
		echo "build-guest.sh: failed; last lines of $log:" >&2
		tail -n 30 "$log" >&2 || true
		rm -rf "$work"
	fi
}
trap cleanup EXIT

step() { echo "build-guest.sh: $*"; echo "=== $*" >>"$log"; }

step "debootstrap $suite minbase ($mirror)"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >>"$log" 2>&1

# No service may start inside the chroot (it would run on the host).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts"

step "apt-get install kernel and userspace"
chroot "$root" apt-get update -qq >>"$log" 2>&1
chroot "$root" apt-get install -y -q --no-install-recommends \
	linux-image-amd64 initramfs-tools zstd kmod \
	nfs-common netbase util-linux procps iproute2 psmisc >>"$log" 2>&1

step "initramfs with the virtio, ext4 and 9p modules"
cat >"$root/etc/initramfs-tools/conf.d/ksuite.conf" <<'EOF'
MODULES=list
COMPRESS=zstd
EOF
cat >"$root/etc/initramfs-tools/modules" <<'EOF'
virtio_pci
virtio_blk
virtio_net
virtio_console
ext4
9pnet_virtio
9p
EOF
chroot "$root" update-initramfs -u -k all >>"$log" 2>&1

step "users, init and clean-up"
chroot "$root" groupadd -g 1000 fsqa >>"$log" 2>&1
chroot "$root" useradd -u 1000 -g 1000 -M -d / -s /bin/bash fsqa >>"$log" 2>&1
chroot "$root" groupadd -g 1001 fsqa2 >>"$log" 2>&1
chroot "$root" useradd -u 1001 -g 1001 -M -d / -s /bin/bash fsqa2 >>"$log" 2>&1
echo ksuite >"$root/etc/hostname"
printf '127.0.0.1 localhost ksuite\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$root/etc/fstab"
mkdir -p "$root/ksuite" "$root/mnt/test" "$root/mnt/upstream"
cat >"$root/sbin/ksuite-init" <<'EOF'
#!/bin/bash
# PID 1 of the kernel-client test guest: mount the host's share and hand over
# to the suite's init.sh in it. Any failure powers the guest off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
modprobe 9pnet_virtio 2>/dev/null; modprobe 9p 2>/dev/null
echo "@@KSUITE init: mounting share"
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none ksuite /ksuite &&
	[ -r /ksuite/guest/init.sh ]; then
	/bin/bash /ksuite/guest/init.sh
	echo "@@KSUITE init: init.sh exited $?"
else
	echo "@@KSUITE init: cannot mount the ksuite share"
fi
sync
echo o >/proc/sysrq-trigger
sleep 30
EOF
chmod 755 "$root/sbin/ksuite-init"
rm -f "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get clean >>"$log" 2>&1
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
	"$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old

for m in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev"; do
	umount "$m"
done

step "kernel, initrd and root.img"
kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
[ -n "$kver" ] || die "no kernel modules installed"
cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"
echo "$kver" >"$work/kernel-version"
size_mb=$(($(du -sm "$root" | cut -f1) + 384))
mkfs.ext4 -q -F -L ksuite -d "$root" "$work/root.img" "${size_mb}M" >>"$log" 2>&1
rm -rf "$root"
mv -T "$work" "$out"
trap - EXIT
echo "build-guest.sh: built $out (kernel $kver, root.img ${size_mb} MiB)"
