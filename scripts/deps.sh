#!/usr/bin/env bash
# Installs what the integration tests and benchmarks need, then downloads the
# Go modules. Idempotent and quiet when everything is present. Run as root on
# Debian (CI does); without root it only reports what is missing.
#
#   ganesha.nfsd        nfs-ganesha      the real upstream NFSv3 server
#   libfsalvfs.so       nfs-ganesha-vfs  ganesha's VFS backend (exports a local dir)
#   rpcbind             rpcbind          ganesha will not start without a portmapper
#   nfs-cat/-ls/-cp     libnfs-utils     real NFS clients (Debian 12 ships no nfs-stat)
#   showmount           nfs-common       a real MOUNT/portmapper client (portmap tests)
#   rpc.statd           nfs-common       ganesha's NLM grants no lock without an NSM (lock tests)
set -euo pipefail

cd "$(dirname "$0")/.."

die() {
	echo "deps.sh: $*" >&2
	exit 1
}

# have_bin NAME: NAME is on PATH or in a (s)bin directory root may lack on PATH.
have_bin() {
	command -v "$1" >/dev/null 2>&1 && return 0
	local d
	for d in /usr/sbin /sbin /usr/bin /bin; do
		[ -x "$d/$1" ] && return 0
	done
	return 1
}

have_fsal_vfs() {
	compgen -G '/usr/lib/*/ganesha/libfsalvfs.so' >/dev/null ||
		[ -e /usr/lib/ganesha/libfsalvfs.so ] ||
		[ -e /usr/lib64/ganesha/libfsalvfs.so ]
}

missing=()
have_bin ganesha.nfsd || missing+=(nfs-ganesha)
have_fsal_vfs || missing+=(nfs-ganesha-vfs)
have_bin rpcbind || missing+=(rpcbind)
have_bin showmount && have_bin rpc.statd || missing+=(nfs-common)
for tool in nfs-cat nfs-ls nfs-cp; do
	if ! have_bin "$tool"; then
		missing+=(libnfs-utils)
		break
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]}; run this script as root to install them"
	command -v apt-get >/dev/null 2>&1 || die "missing Debian packages: ${missing[*]}; apt-get not found"
	echo "deps.sh: installing ${missing[*]}"
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	if ! apt-get update -qq >"$log" 2>&1; then
		cat "$log" >&2
		die "apt-get update failed"
	fi
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		die "apt-get install ${missing[*]} failed"
	fi
	have_bin ganesha.nfsd || die "nfs-ganesha installed but ganesha.nfsd not found"
	have_fsal_vfs || die "nfs-ganesha-vfs installed but libfsalvfs.so not found"
	have_bin rpcbind || die "rpcbind installed but the rpcbind binary not found"
	have_bin nfs-cat || die "libnfs-utils installed but nfs-cat not found"
	have_bin showmount || die "nfs-common installed but showmount not found"
	have_bin rpc.statd || die "nfs-common installed but rpc.statd not found"
fi

command -v go >/dev/null 2>&1 || die "go not found on PATH"
go mod download || die "go mod download failed"
