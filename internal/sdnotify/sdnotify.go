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
package sdnotify

import (
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Env is the environment variable systemd sets to the notification socket.
const Env = "NOTIFY_SOCKET"

// Notify sends state (e.g. "READY=1") to socket, the value of
// $NOTIFY_SOCKET. An empty socket means "not under systemd": nil.
func Notify(socket, state string) error {
	if socket == "" {
		return nil
	}
	name := socket
	if strings.HasPrefix(name, "@") { // abstract namespace
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", socket, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", socket, err)
	}
	return nil
}

// Ready is the READY=1 message, with a STATUS line.
func Ready(status string) string { return "READY=1\nSTATUS=" + status }

// Reloading is the RELOADING=1 message systemd expects at the start of a
// reload, stamped with CLOCK_MONOTONIC as sd_notify(3) requires.
func Reloading() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", time.Duration(ts.Nano())/time.Microsecond)
}

// Stopping is the STOPPING=1 message.
func Stopping() string { return "STOPPING=1" }
