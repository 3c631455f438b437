// Package sdnotify sends service state to systemd over the sd_notify(3)
// protocol, so a unit with Type=notify is "started" when the proxy
// serves, not when its process exists.
//
// Model: systemd passes a datagram socket's path in $NOTIFY_SOCKET (a
// filesystem path, or an abstract socket written with a leading '@'); the
// service sends newline-separated KEY=VALUE assignments in one datagram:
// READY=1 when started, RELOADING=1 (with MONOTONIC_USEC) when a reload
// begins and READY=1 again when it ends, STOPPING=1 when it shuts down,
// STATUS=… free text. Outside systemd (no NOTIFY_SOCKET) every call does
// nothing and returns nil.
//
// Errors: a socket that cannot be dialled or written returns the error,
// wrapped "sdnotify: …"; callers log it and go on (a missed notification
// makes systemd time the start out, it never stops the proxy serving).
//
// Concurrency: the functions are safe for concurrent use; each call opens
// and closes its own socket. Nothing is cached and no goroutine started.
//
// It owns only the wire protocol; it must not decide when the proxy is
// ready (cmd/nfscacheproxy does). Locks: none.
package sdnotify
