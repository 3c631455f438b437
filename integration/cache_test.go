package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
)

func readCalls(e *env) int64 { return e.up.Stats().ProcCalls[nfs3.ProcRead] }

func randomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSecondReadFromCache: the second read of a file is served without any
// upstream READ; after the file changes on the upstream and its attributes
// are revalidated (cto: the client's GETATTR), the new bytes are served.
func TestSecondReadFromCache(t *testing.T) {
	e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{Mode: coherency.ModeCTO}})
	data := randomFile(t, filepath.Join(e.g.Dir, "f"), 5<<20+333)
	c := e.proxyClient(0, 0)
	fh := c.mustLookup(c.root(), "f")
	if got := c.readAll(fh); !bytes.Equal(got, data) {
		t.Fatal("cold read: bytes differ from the upstream's")
	}
	// A reply's bytes are counted once its write returns, which may be
	// after the client read them: compare counters with nothing in flight.
	settled := func() proxy.Stats {
		await.Until(t, "requests in flight to finish", func() bool { return e.srv.Stats().InFlight == 0 })
		return e.srv.Stats()
	}
	before, sent := readCalls(e), settled().SendfileBytes
	if got := c.readAll(fh); !bytes.Equal(got, data) {
		t.Fatal("warm read: bytes differ from the upstream's")
	}
	if n := readCalls(e) - before; n != 0 {
		t.Fatalf("warm read made %d upstream READs; want 0", n)
	}
	// The five 1 MiB READs go from the cache file by sendfile; the last
	// 333 bytes need XDR padding and are copied.
	if n := settled().SendfileBytes - sent; n != 5<<20 {
		t.Fatalf("warm read sent %d bytes with sendfile; want %d", n, 5<<20)
	}
	st := e.store.Stats()
	if st.Hits == 0 || st.BytesFromCache < uint64(len(data)) {
		t.Fatalf("cache stats %+v; want hits and at least %d bytes from cache", st, len(data))
	}

	// Change the file directly on the upstream (same size: only mtime and
	// content differ).
	changed := bytes.Clone(data)
	copy(changed[1<<20:], "CHANGED ON THE SERVER")
	if err := os.WriteFile(filepath.Join(e.g.Dir, "f"), changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, st := c.getattr(fh); st != nfs3.StatOK { // close-to-open: the client's GETATTR on open
		t.Fatal(st)
	}
	if got := c.readAll(fh); !bytes.Equal(got, changed) {
		t.Fatalf("after upstream change: served old bytes (equal to old: %v)", bytes.Equal(got, data))
	}
}

// TestCachedDataNeedsPermission: a user who may not read a file gets ACCES
// on a cache hit exactly as the upstream would answer.
func TestCachedDataNeedsPermission(t *testing.T) {
	e := startEnvWith(t, envOptions{cacheDir: "temp"})
	p := filepath.Join(e.g.Dir, "private")
	data := randomFile(t, p, 300_000)
	os.Chmod(p, 0o600)
	os.Chown(p, 1000, 1000)
	owner := e.proxyClient(1000, 1000)
	fh := owner.mustLookup(owner.root(), "private")
	if got := owner.readAll(fh); !bytes.Equal(got, data) {
		t.Fatal("owner read differs")
	}
	before := readCalls(e)
	if got := owner.readAll(fh); !bytes.Equal(got, data) || readCalls(e) != before {
		t.Fatal("owner's second read was not a cache hit")
	}
	other := e.proxyClient(1001, 1001)
	if res := other.read(fh, 0, 4096); res.Status != nfs3.StatAcces {
		t.Fatalf("uid 1001 on a cached file: %v; want NFS3ERR_ACCES", res.Status)
	}
	group := e.proxyClient(1002, 1000) // in the file's group, but mode 0600
	if res := group.read(fh, 0, 4096); res.Status != nfs3.StatAcces {
		t.Fatalf("group member on a 0600 cached file: %v; want NFS3ERR_ACCES", res.Status)
	}
}

// TestOwnWritesCoherent: after writes through the proxy, attributes are
// never stale and the bytes read back are the upstream's. The cached
// granules are kept when the WCC pre-op attributes prove the write was the
// only change; ganesha's WRITE replies carry none, and there the cached
// attributes, fresh and fitting the write, stand in for them
// (coherency.Cache.EndWrite): the read back needs no upstream READ.
func TestOwnWritesCoherent(t *testing.T) {
	e := startEnvWith(t, envOptions{cacheDir: "temp"})
	data := randomFile(t, filepath.Join(e.g.Dir, "w"), 1<<20)
	c := e.proxyClient(0, 0)
	fh := c.mustLookup(c.root(), "w")
	c.readAll(fh) // fill
	patch := []byte(strings.Repeat("x", 10_000))
	w := c.write(fh, 300_000, patch, nfs3.FileSync)
	if w.Status != nfs3.StatOK {
		t.Fatal(w.Status)
	}
	proof := w.Wcc.Before.Set
	copy(data[300_000:], patch)
	if attr, _ := c.getattr(fh); attr.Size != 1<<20 {
		t.Fatalf("size after write %d; want %d", attr.Size, 1<<20)
	}
	ext := []byte("appended")
	c.write(fh, 1<<20, ext, nfs3.Unstable)
	data = append(data, ext...)
	if attr, _ := c.getattr(fh); attr.Size != uint64(len(data)) {
		t.Fatalf("size after append %d; want %d (stale attributes after our own write)", attr.Size, len(data))
	}
	before := readCalls(e)
	if got := c.readAll(fh); !bytes.Equal(got, data) {
		t.Fatal("read after writes differs from what was written")
	}
	if onDisk, _ := os.ReadFile(filepath.Join(e.g.Dir, "w")); !bytes.Equal(onDisk, data) {
		t.Fatal("upstream file differs from what was written")
	}
	if n := readCalls(e) - before; n != 0 {
		t.Fatalf("the writes were ours alone, yet the read made %d upstream READs; want 0", n)
	}
	t.Logf("upstream sent pre-op attributes: %v", proof)
}
