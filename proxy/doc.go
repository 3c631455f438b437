// Package proxy is the NFSv3 and MOUNT v3 front end that clients mount: ONC
// RPC over TCP (RFC 5531), the 22 NFSv3 procedures and the MOUNT protocol
// (RFC 1813), file handle wrapping and export policy.
//
// Model: the proxy is handle-native. A client's file handle is the upstream
// handle with a 4-byte prefix naming its volume (handle.go); every procedure
// strips the prefix, forwards the call by handle with the caller's own
// AUTH_SYS credential to the volume's Upstream, adds the prefix to every
// handle in the result, and returns attributes and WCC data exactly as the
// upstream sent them. The only field the proxy changes is FSINFO's transfer
// sizes, which it caps at what it can carry.
//
// Errors: a request that cannot be parsed gets the RPC-level reply the
// protocol names (PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS,
// AUTH_ERROR, RPC_MISMATCH); an unusable handle is NFS3ERR_BADHANDLE; a
// failure to reach the upstream is NFS3ERR_JUKEBOX when it is transient and
// NFS3ERR_IO otherwise (errors.go is the one place that maps them). A record
// over the size limit, or one that cannot even be framed, closes the
// connection. A panic in a handler is recovered, logged and answered with
// SYSTEM_ERR.
//
// Concurrency: each connection has a reader goroutine that frames records
// and starts one goroutine per request, bounded per connection and across
// the server (a full bound stops the reader, which pushes back on the
// client); replies go out in completion order under a write lock with a
// write deadline. Server.Close stops the listeners, closes connections and
// waits for every goroutine.
//
// Caching: none in this package; the data cache and the coherency rules are
// reached through the small interfaces declared in volume.go.
package proxy
