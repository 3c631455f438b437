package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// writeCacheSize is the file TestWriteThenReadFromCache writes: 8 MiB,
// not the 64 MiB of issue 13, to keep the race-detector run short; the
// path is the same for every write after the first.
const writeCacheSize = 8 << 20

// writeChunks writes data to fh through n in 1 MiB WRITEs.
func writeChunks(t *testing.T, n *nfsClient, fh nfs3.FH, off uint64, data []byte, stable nfs3.StableHow) {
	t.Helper()
	for i := 0; i < len(data); i += 1 << 20 {
		chunk := data[i:min(i+1<<20, len(data))]
		if res := n.write(fh, off+uint64(i), chunk, stable); res.Status != nfs3.StatOK || res.Count != uint32(len(chunk)) {
			t.Fatalf("write at %d: %v, count %d", off+uint64(i), res.Status, res.Count)
		}
	}
}

// TestWriteThenReadFromCache: a file written through the proxy against
// ganesha, whose WRITE replies carry no pre-op attributes, is read back
// from the cache with no upstream READ, in every mode.
func TestWriteThenReadFromCache(t *testing.T) {
	for _, mode := range []coherency.Mode{coherency.ModeCTO, coherency.ModeTTL, coherency.ModeStatic} {
		t.Run(mode.String(), func(t *testing.T) {
			e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{Mode: mode}})
			c := e.proxyClient(0, 0)
			fh, st := c.create(c.root(), "out", 0o644)
			if st != nfs3.StatOK {
				t.Fatal(st)
			}
			data := make([]byte, writeCacheSize)
			rand.Read(data)
			writeChunks(t, c, fh, 0, data[:writeCacheSize/2], nfs3.FileSync)
			writeChunks(t, c, fh, writeCacheSize/2, data[writeCacheSize/2:], nfs3.Unstable)
			if res, err := c.c.Commit(c.ctx, &c.cred, &nfs3.CommitArgs{File: fh}); err != nil || res.Status != nfs3.StatOK {
				t.Fatalf("commit: %v %v", err, res.Status)
			}
			if a, _ := c.getattr(fh); a.Size != writeCacheSize { // the open before reading
				t.Fatalf("size %d; want %d", a.Size, writeCacheSize)
			}
			before := readCalls(e)
			if got := c.readAll(fh); !bytes.Equal(got, data) {
				t.Fatal("read back through the proxy: bytes differ from those written")
			}
			if n := readCalls(e) - before; n != 0 {
				t.Fatalf("read back made %d upstream READs; want 0 (served from the cache)", n)
			}
			if onDisk, _ := os.ReadFile(filepath.Join(e.g.Dir, "out")); !bytes.Equal(onDisk, data) {
				t.Fatal("upstream file differs from what was written")
			}
			ms, ds := e.srv.Meta(testVolume).Stats(), e.store.Stats()
			if ms.WccStandIns != writeCacheSize>>20 {
				t.Fatalf("WccStandIns = %d; want one per WRITE (%d)", ms.WccStandIns, writeCacheSize>>20)
			}
			t.Logf("WccStandIns %d, cache writes %d, hits %d, misses %d, bytes from cache %d",
				ms.WccStandIns, ds.Writes, ds.Hits, ds.Misses, ds.BytesFromCache)
		})
	}
}

// directWrite is one WRITE another client sends the upstream.
type directWrite struct {
	off  uint64
	data []byte
}

// TestWriteSeesDirectWriter (cto): another client of the upstream changes
// the file between two writes through the proxy. Kept cached data must
// not hide its bytes: an overwrite that keeps the size is seen through
// the GETATTR of the next open; one that changes the size is seen by the
// next write's own check, open or not.
func TestWriteSeesDirectWriter(t *testing.T) {
	tests := []struct {
		name  string
		other []directWrite // what the direct client writes
		open  bool          // the proxy client GETATTRs (opens) before its second write
	}{
		{"same-size overwrite, then open", []directWrite{{100_000, bytes.Repeat([]byte("D"), 5000)}}, true},
		// The overwrite inside a cached granule is hidden but for the
		// size the append changes.
		{"overwrite and append, no open", []directWrite{{100_000, bytes.Repeat([]byte("E"), 5000)}, {1 << 20, []byte("appended")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{Mode: coherency.ModeCTO}})
			c, d := e.proxyClient(0, 0), e.directClient(0, 0)
			fh, st := c.create(c.root(), "f", 0o644)
			if st != nfs3.StatOK {
				t.Fatal(st)
			}
			want := make([]byte, 1<<20)
			rand.Read(want)
			writeChunks(t, c, fh, 0, want, nfs3.FileSync)
			if got := c.readAll(fh); !bytes.Equal(got, want) {
				t.Fatal("first read back differs")
			}
			// The upstream's clock ticks between changes, so each one
			// shows in mtime and ctime.
			waitMtimeTick(t, filepath.Join(e.g.Dir, "f"))
			dfh := d.mustLookup(d.root(), "f")
			for _, o := range tt.other {
				if res := d.write(dfh, o.off, o.data, nfs3.FileSync); res.Status != nfs3.StatOK {
					t.Fatal(res.Status)
				}
				if end := int(o.off) + len(o.data); end > len(want) {
					want = append(want, make([]byte, end-len(want))...)
				}
				copy(want[o.off:], o.data)
			}
			waitMtimeTick(t, filepath.Join(e.g.Dir, "f"))
			if tt.open {
				c.getattr(fh)
			}
			ours := []byte("OURS, AFTER THE OTHER WRITER")
			if res := c.write(fh, 500_000, ours, nfs3.FileSync); res.Status != nfs3.StatOK {
				t.Fatal(res.Status)
			}
			copy(want[500_000:], ours)
			c.getattr(fh)
			if got := c.readAll(fh); !bytes.Equal(got, want) {
				t.Fatalf("read through the proxy differs from the upstream's file (len %d; want %d): stale cached bytes", len(got), len(want))
			}
		})
	}
}
