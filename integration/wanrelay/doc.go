// Package wanrelay is a user-space TCP relay that emulates a WAN link on
// loopback, for machines whose kernel has no netem. It sits between the proxy
// and its upstream NFS server (or between a benchmark client and a server for
// "direct-far" runs): it listens on one address, and for each accepted
// connection dials one target and relays both directions.
//
// Model: each direction of each connection is a link with a one-way delay and
// an optional rate. A reader goroutine reads a chunk from the source at time t
// and stamps it with its arrival time, then queues it; a writer goroutine
// sleeps until each chunk's arrival time and writes it to the destination.
// With no rate cap a chunk arrives at t+Delay. With a rate R the link
// serialises: a chunk of n bytes starts when the link is free (at t or when
// the previous chunk finished, whichever is later), occupies it for n/R, and
// arrives Delay after it finished. Delay is pipelined, not stop-and-wait:
// chunks are in flight concurrently, so throughput is not bounded by one
// chunk per round trip. Byte order is preserved (one FIFO per direction).
// Under a rate cap the reader takes chunks of about 1 ms of link time so the
// destination sees a smooth stream rather than 64 KiB bursts.
//
// Buffering: a direction holds at most Options.MaxBuffered bytes that have
// been read but not yet written (64 MiB by default, which covers the
// bandwidth-delay product of any link worth emulating). When it is full the
// reader stops reading, so backpressure reaches the sender through TCP flow
// control. Nothing is cached.
//
// Connection semantics: end of stream (a FIN, from CloseWrite or a full
// Close by the peer) travels the link like data: it arrives after every byte
// read before it, and is delivered by closing the write half of the other
// connection. When both directions have delivered their end of stream both
// connections are closed. A read error other than EOF (a reset), a write
// error, or Relay.Close aborts the pair at once: data in flight is dropped
// and both connections are closed with SO_LINGER 0, so each peer sees a
// reset. If the target cannot be dialled the client's connection is closed
// and the relay keeps accepting.
//
// Not emulated: connection setup. The client's connect completes on loopback
// at once and the relay dials the target immediately, so a new connection
// pays one round trip less than on a real WAN. NFS clients keep their
// connections, so this matters only for connect-heavy benchmarks.
//
// Errors: Start wraps listen and option errors with a "wanrelay:" prefix and
// names the offending Options field. Per-connection failures are not returned
// anywhere: they close the connection, are logged at debug level and counted
// in Stats.
//
// Concurrency: Relay's methods are safe for concurrent use. The relay owns
// one accept goroutine and, per connection, one serving goroutine plus a
// reader and a writer per direction; Close stops accepting, aborts every
// connection and waits for all of them. Lock order: no lock is held while
// another is taken (Relay.mu, session.mu and queue.mu are all leaves).
package wanrelay
