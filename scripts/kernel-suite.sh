#!/usr/bin/env bash
# Runs the Linux kernel NFS client suite (integration/kernel) in a QEMU guest,
# through the proxy and directly against nfs-ganesha, and prints both
# summaries. Run as root on Debian: it installs what is missing (ganesha,
# rpcbind, libnfs-utils via scripts/deps.sh; debootstrap and
# qemu-system-x86 when the guest is first built).
#
#   scripts/kernel-suite.sh            the full suite (group auto)
#   scripts/kernel-suite.sh quick      the short group CI runs
#   scripts/kernel-suite.sh coherency  any other group
#   NFSCACHEPROXY_KERNEL_TESTS="001 009" scripts/kernel-suite.sh
#
# Other knobs (see integration/kernel/kernel_test.go):
# NFSCACHEPROXY_KERNEL_COHERENCY, _ACTIMEO, _ACCEL, _CPUS, _TIMEOUT, _KEEP.
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:-auto}
scripts/deps.sh
export NFSCACHEPROXY_KERNEL_GROUP=$group
exec go test -tags kernel -count=1 -v -timeout 8h -run '^TestKernelClient$' ./integration/kernel/
