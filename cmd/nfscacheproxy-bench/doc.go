// Command nfscacheproxy-bench drives NFSv3 servers with the standard
// workloads of package bench: one given server (the proxy or any other),
// the standard matrix, or the soak. The matrix and the soak start
// nfs-ganesha, WAN relays and the proxy binary (--proxy-bin) themselves, so
// this command links the test harness of integration/; the production
// binary, cmd/nfscacheproxy, links none of it.
//
// It owns only flag parsing and printing for package bench; the
// workloads, the matrix and the soak are bench's. It must not be linked
// by, or linked into, cmd/nfscacheproxy. Locks: none.
package main
