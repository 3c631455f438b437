package cache

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// blockFS blocks the first WriteAt of a whole granule at offset 0 until
// released, to hold a background store in the middle of its write.
type blockFS struct {
	FS
	mu      sync.Mutex
	armed   bool
	reached chan struct{}
	release chan struct{}
}

type blockFile struct {
	File
	fs *blockFS
}

func (b *blockFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &blockFile{File: f, fs: b}, nil
}

func (b *blockFS) OpenFile(name string, flag int, perm uint32) (File, error) {
	return b.wrap(b.FS.OpenFile(name, flag, perm))
}

func (b *blockFS) CreateTemp(dir string) (File, error) { return b.wrap(b.FS.CreateTemp(dir)) }

func (b *blockFS) Link(f File, newname string) error {
	if bf, ok := f.(*blockFile); ok {
		f = bf.File
	}
	return b.FS.Link(f, newname)
}

func (f *blockFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	block := f.fs.armed && off == 0 && len(p) == testGranule
	if block {
		f.fs.armed = false
	}
	f.fs.mu.Unlock()
	if block {
		close(f.fs.reached)
		<-f.fs.release
	}
	return f.File.WriteAt(p, off)
}

// TestStaleStoreNeverLandsOverNewerGranule: a background store of a
// granule fetched before a write is held in the middle of its disk write
// while the write (WroteAt) replaces that granule. Whatever the order the
// two finish in, a partial read (which may skip the checksum of an already
// verified granule) must return the new bytes.
func TestStaleStoreNeverLandsOverNewerGranule(t *testing.T) {
	bfs := &blockFS{FS: OSFS(), armed: true, reached: make(chan struct{}), release: make(chan struct{})}
	s := openTest(t, Options{FS: bfs, Readahead: -1})
	fh := fhOf(1)
	u := newUpstream(2*testGranule, 1)
	v1 := u.coh()
	p := make([]byte, 100)
	if _, err := s.ReadAt(context.Background(), testVol, fh, v1, p, 10, FetcherFunc(u.fetch)); err != nil {
		t.Fatal(err)
	}
	await.Recv(t, "the background store to reach its WriteAt", bfs.reached)
	nd := pattern(2*testGranule, 99)
	u.set(nd)
	v2 := u.coh()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		s.WroteAt(testVol, fh, v1, v2, nd[:testGranule], 0)
	}()
	// WroteAt has reached the object once it adopted v2 (planWrite, under
	// o.mu): granule 0 is out of the map and the held store's version is
	// stale, whether or not WroteAt is already waiting on o.wmu.
	await.Until(t, "WroteAt to adopt the new version on the object", func() bool {
		c, ok := objectCoh(s, fh)
		return ok && c == v2
	})
	close(bfs.release) // the old store's bytes land now
	<-wrote
	settle(t, s)
	q := make([]byte, 100)
	n, err := s.ReadAt(context.Background(), testVol, fh, v2, q, 10, FetcherFunc(u.fetch))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q[:n], nd[10:110]) {
		t.Fatalf("partial read after the write returned other bytes (old version: %v)", bytes.Equal(q[:n], pattern(2*testGranule, 1)[10:110]))
	}
	f := make([]byte, testGranule)
	if n, _ := s.ReadAt(context.Background(), testVol, fh, v2, f, 0, FetcherFunc(u.fetch)); !bytes.Equal(f[:n], nd[:testGranule]) {
		t.Fatal("whole-granule read after the write returned other bytes")
	}
}
