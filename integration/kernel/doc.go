// Package kernel runs the Linux kernel NFS client against the proxy: a
// Debian guest booted with qemu-system-x86_64 mounts the proxy (and, as the
// baseline, nfs-ganesha directly) with vers=3,proto=tcp,nolock and runs an
// xfstests-style suite of our own (suite/: numbered tests with expected
// output, groups, a check runner). The lock test (014) mounts without
// nolock; the guest reaches the proxy's portmapper and NLM at a second
// address whose ports QEMU guestfwd rules relay to host ports
// ([VMOptions.GuestFwd], ktool relay), since the host's port 111 is the
// system rpcbind.
//
// # Model
//
//   - [EnsureGuest] builds the guest once with build-guest.sh (debootstrap
//     of bookworm with linux-image-amd64 and nfs-common into an ext4 image)
//     and caches it under a directory keyed by a hash of that script; later
//     runs reuse it.
//   - [EnsureBenchGuest] derives the benchmark's guest from it with
//     build-bench-guest.sh (a copy of root.img, grown, with
//     nfs-kernel-server, cachefilesd and fio) and caches it beside it under
//     its own key (the test guest's key and that script); the test guest
//     and its key are not touched, so CI never boots or rebuilds it.
//     BenchmarkKernelClient boots it to compare the proxy with knfsd
//     re-exporting an fsc mount (guest/setup-knfsd.sh) and with the proxy
//     run inside the guest (guest/setup-guestproxy.sh).
//   - [Share] lays out the virtio-9p directory the guest mounts at /ksuite:
//     guest/init.sh, the suite, the cross-built ktool helper, params.env
//     (targets, ports, group) and out/, where the guest leaves its results.
//   - [VM] boots the guest (KVM when /dev/kvm boots a kernel, else TCG) with
//     QEMU user networking, in which the guest reaches the host's 127.0.0.1
//     as 10.0.2.2; it streams the serial console and kills QEMU at a hard
//     timeout.
//   - [Control] is a small HTTP endpoint on the host through which a test in
//     the guest asks for a server restart.
//   - [ProxyProcess] runs the nfscacheproxy binary and restarts it with
//     SIGKILL on the same port.
//
// # Errors
//
// Every failure is returned with a short prefix naming the step ("kernel:
// build guest: …"); a missing host tool is an error naming the Debian
// package (build-guest.sh installs them as root). Nothing here skips.
//
// # Concurrency
//
// EnsureGuest takes an exclusive flock on the cache directory, so parallel
// test processes build once. A VM and a Control are owned by one test; Run
// and Close may be called from different goroutines.
package kernel
