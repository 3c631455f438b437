// Package rpcsrv holds the socket life cycle the project's RPC servers
// share (the NFS/MOUNT front end in proxy, the portmapper in portmap):
// the listeners and packet conns a server serves and the connections it
// accepted, each with the goroutine that serves it, registered under one
// lock and one WaitGroup, so that Close can close every socket and wait
// for every goroutine, and nothing registers after Close.
//
// It must not read or write a socket, nor decide whether a connection is
// admitted: the server's admit function does, under the group's lock, so
// that the count it sees and the registration are one step.
//
// Lock order: Group.mu, then whatever admit takes; no I/O but closing
// sockets is done under it.
package rpcsrv
