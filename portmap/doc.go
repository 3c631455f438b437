// Package portmap is a small, read-only portmapper (RFC 1833): program
// 100000 versions 2 (portmap) and 3, 4 (rpcbind), over TCP with record
// marking and over UDP. It lets `mount -t nfs -o vers=3 PROXY:/export` and
// `showmount -e PROXY` find the proxy's NFS and MOUNT ports without port
// options, and a client's lockd and statd find the proxy's NLM and NSM
// (NLMMappings).
//
// Model: the table of mappings is fixed when the Server is built
// (Options.Mappings); nothing registers at run time. SET and UNSET are
// answered false. Lookups follow rpcbind: GETPORT (v2) and GETADDR (v3, v4)
// return the mapping for the exact version when there is one and otherwise
// any mapping of the program on that transport, so a client asking for a
// version we do not serve learns the port and gets PROG_MISMATCH from the
// service itself; GETVERSADDR (v4) matches the version exactly. v2 sees only
// the IPv4 netids "tcp" and "udp".
//
// Universal addresses (RFC 5665, "h1.h2.h3.h4.p1.p2" or "x:…:x.p1.p2") are
// built from the local address the query arrived on and the mapping's port,
// so a proxy bound to the wildcard address answers each client with an
// address it can reach. A Mapping with Addr set returns that string verbatim
// instead (for a proxy behind NAT or a load balancer). On UDP the arrival
// address comes from IP_PKTINFO / IPV6_PKTINFO on Linux, and replies leave
// from that same address.
//
// Errors: a call for another program is PROG_UNAVAIL, another version of
// 100000 is PROG_MISMATCH (2..4), an unknown or unserved procedure (CALLIT,
// BCAST, INDIRECT, UADDR2TADDR, TADDR2UADDR, GETADDRLIST, GETSTAT) is
// PROC_UNAVAIL, arguments that do not decode are GARBAGE_ARGS, a wrong RPC
// version is RPC_MISMATCH, a malformed or unsupported credential is an
// AUTH_ERROR. A message that is not a parsable call is dropped (UDP) or
// closes the connection (TCP), as does a record over 16 KiB.
//
// Concurrency: Serve runs one goroutine per TCP connection (bounded by
// Options.MaxConns; excess connections are closed at once), which answers
// its calls in order; ServeUDP answers datagrams on the calling goroutine.
// Close closes every listener, packet conn and connection and waits for
// their goroutines (the life cycle is internal/rpcsrv's Group, shared with
// proxy). The mapping table is immutable, so no lock guards it.
//
// Caching: none.
//
// Exposure: a UDP portmapper reachable from untrusted networks can be used
// to reflect and amplify traffic (a DUMP reply is several times the size of
// its request). Serve UDP only on networks whose clients you trust, as with
// rpcbind.
//
// It owns the portmapper protocol only; it must not register with a
// system rpcbind or change its mappings after start. Lock order: the
// rpcsrv Group's mu (listeners and connections) is the only lock and a
// leaf (its admit function takes none).
package portmap
