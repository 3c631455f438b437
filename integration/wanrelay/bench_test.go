package wanrelay

import (
	"net"
	"testing"
)

// BenchmarkRelayThroughput streams 64 KiB writes one way into a sink, either
// directly or through a relay with no delay, and reports MB/s.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, via := range []string{"direct", "relay"} {
		b.Run(via, func(b *testing.B) {
			done := make(chan int64, 1)
			srv := startServer(b, sink(done))
			addr := srv.Addr()
			if via == "relay" {
				addr = startRelay(b, Options{Target: addr}).Addr()
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("dial: %v", err)
			}
			defer c.Close()
			buf := randomBytes(11, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatalf("write: %v", err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			if got, want := <-done, int64(b.N*len(buf)); got != want {
				b.Fatalf("sink got %d bytes; want %d", got, want)
			}
		})
	}
}
