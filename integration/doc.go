// Package integration holds the end-to-end tests and benchmarks: a real
// nfs-ganesha upstream (started by the tests through package harness), the
// proxy in front of it, and real clients — libnfs-utils' nfs-cat/nfs-ls/
// nfs-cp, go-nfs-client, and an RPC-level driver built on package upstream
// for what the others cannot express (exclusive create, guarded SETATTR,
// MKNOD, small READDIR counts).
//
// The tests fail, never skip, when ganesha or libnfs-utils is missing:
// scripts/deps.sh installs them.
package integration
