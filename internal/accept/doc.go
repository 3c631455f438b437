// Package accept holds the one accept loop the project's TCP servers share
// (NFS/MOUNT in proxy, the portmapper in portmap; NLM when it serves TCP).
//
// It owns the rule for a failing accept(2): running out of file descriptors
// (EMFILE for the process, ENFILE for the system) or a temporary error is
// not the end of the listener; the loop backs off (5 ms doubling to 1 s),
// logs each backoff, and accepts again, so a burst of connections cannot
// stop a server for good. Any other error ends the loop.
//
// It must not decide anything about a connection: the handler it is given
// does (admission, limits, its goroutine). Nothing here holds locks.
//
// Lock order: none; the loop owns no goroutines beyond the caller's.
package accept
