package integration

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// benchSides are ganesha and two proxies in front of it, one client each:
// "proxy" forwards every call (cto mode with attribute lifetimes of 1ns, no
// data cache: the cost of the hop), "cached" is the default ttl mode with a
// data cache.
type benchSides struct {
	direct, proxied, cached *nfsClient
}

func startBenchProxy(b *testing.B, g *harness.Ganesha, vol proxy.Volume) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up, err := upstream.Dial(ctx, upstream.Options{Server: g.Host, Export: g.Export, NFSPort: g.NFSPort, MountPort: g.MountPort})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	vol.ID, vol.Name, vol.Upstream = 1, "/export", up
	srv, err := proxy.New(proxy.Options{Volumes: []proxy.Volume{vol}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func newBenchSides(b *testing.B) *benchSides {
	b.Helper()
	g := harness.StartGaneshaT(b, harness.GaneshaOptions{})
	pass := startBenchProxy(b, g, proxy.Volume{Coherency: coherency.Options{Mode: coherency.ModeCTO,
		AcRegMin: time.Nanosecond, AcRegMax: time.Nanosecond, AcDirMin: time.Nanosecond, AcDirMax: time.Nanosecond}})
	store, err := cache.Open(cache.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	cached := startBenchProxy(b, g, proxy.Volume{Data: proxy.StoreVolume(store, cache.VolumeKey{Server: g.Host, Export: g.Export, ID: 1})})
	return &benchSides{
		direct:  dialClient(b, g.Host, g.NFSPort, g.MountPort, 0, 0),
		proxied: dialClient(b, "127.0.0.1", pass, pass, 0, 0),
		cached:  dialClient(b, "127.0.0.1", cached, cached, 0, 0),
	}
}

// BenchmarkDirectVsProxy measures GETATTR, LOOKUP, 1 MiB READ and 1 MiB
// WRITE directly against ganesha, through a proxy that forwards every call,
// and through the default proxy with its caches; one client, one call at a
// time, loopback.
func BenchmarkDirectVsProxy(b *testing.B) {
	p := newBenchSides(b)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	for _, side := range []struct {
		name string
		c    *nfsClient
	}{{"direct", p.direct}, {"proxy", p.proxied}, {"cached", p.cached}} {
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
