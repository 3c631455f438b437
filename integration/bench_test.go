package integration

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// benchPair is ganesha plus a proxy, with one client of each.
type benchPair struct {
	direct, proxied *nfsClient
}

func newBenchPair(b *testing.B) *benchPair {
	b.Helper()
	g := harness.StartGaneshaT(b, harness.GaneshaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up, err := upstream.Dial(ctx, upstream.Options{Server: g.Host, Export: g.Export, NFSPort: g.NFSPort, MountPort: g.MountPort})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	srv, err := proxy.New(proxy.Options{Volumes: []proxy.Volume{{ID: 1, Name: "/export", Upstream: up}}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	return &benchPair{
		direct:  dialClient(b, g.Host, g.NFSPort, g.MountPort, 0, 0),
		proxied: dialClient(b, "127.0.0.1", port, port, 0, 0),
	}
}

// BenchmarkDirectVsProxy measures GETATTR, LOOKUP, 1 MiB READ and 1 MiB
// WRITE directly against ganesha and through the proxy (no data cache), one
// client, one call at a time: the proxy's added latency per call.
func BenchmarkDirectVsProxy(b *testing.B) {
	p := newBenchPair(b)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	for _, side := range []struct {
		name string
		c    *nfsClient
	}{{"direct", p.direct}, {"proxy", p.proxied}} {
		c := side.c
		f, st := c.create(c.root(), "bench-"+side.name, 0o644)
		if st != nfs3.StatOK {
			b.Fatalf("create: %v", st)
		}
		c.write(f, 0, data, nfs3.FileSync)
		b.Run("GETATTR/"+side.name, func(b *testing.B) {
			for b.Loop() {
				if _, st := c.getattr(f); st != nfs3.StatOK {
					b.Fatal(st)
				}
			}
		})
		b.Run("LOOKUP/"+side.name, func(b *testing.B) {
			for b.Loop() {
				if _, st := c.lookup(c.root(), "bench-"+side.name); st != nfs3.StatOK {
					b.Fatal(st)
				}
			}
		})
		b.Run("READ1MiB/"+side.name, func(b *testing.B) {
			b.SetBytes(1 << 20)
			for b.Loop() {
				if r := c.read(f, 0, 1<<20); r.Status != nfs3.StatOK || len(r.Data) != 1<<20 {
					b.Fatal(r.Status)
				}
			}
		})
		b.Run("WRITE1MiB/"+side.name, func(b *testing.B) {
			b.SetBytes(1 << 20)
			for b.Loop() {
				if w := c.write(f, 0, data, nfs3.Unstable); w.Status != nfs3.StatOK {
					b.Fatal(w.Status)
				}
			}
		})
	}
}
