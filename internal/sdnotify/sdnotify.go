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
