package main

import (
	"io"
	"net"
	"os"
)

// runRelay copies stdin to a TCP connection to HOST:PORT and the
// connection to stdout. QEMU's user network runs it once per guest
// connection to a guestfwd address (`guestfwd=tcp:ADDR:PORT-cmd:ktool
// relay 127.0.0.1:PORT`), with the guest's connection as stdin and
// stdout: it gives the guest a second host address whose ports lead to
// other host ports (the proxy's portmapper on port 111 there).
func runRelay(args []string) error {
	if len(args) != 1 {
		return usageError{"usage: relay HOST:PORT"}
	}
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(os.Stdout, c)
		os.Stdout.Close() // the guest sees the server's close
	}()
	io.Copy(c, os.Stdin)
	c.(*net.TCPConn).CloseWrite()
	<-done
	return nil
}
