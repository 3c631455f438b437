package cache

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadSpan: a span is offered only for bytes wholly cached and
// checked since the object was opened, and its descriptor reads exactly
// them; anything else says "use ReadAt".
func TestReadSpan(t *testing.T) {
	const G = testGranule
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	u := newUpstream(3*G+100, 80)
	fh := fhOf(80)
	nofetch := FetcherFunc(u.fetch)
	if _, ok := s.ReadSpan(testVol, fh, u.coh(), 0, G, nofetch); ok {
		t.Fatal("span of an object not cached")
	}
	readCheck(t, s, fh, u, 0, 2*G) // granules 0 and 1
	settle(t, s)

	sp, ok := s.ReadSpan(testVol, fh, u.coh(), 100, G, nofetch)
	if !ok {
		t.Fatal("no span of cached, checked granules")
	}
	p := make([]byte, sp.N)
	if n, err := unix.Pread(sp.FD, p, sp.Off); err != nil || n != len(p) || !bytes.Equal(p, u.bytes()[100:100+G]) {
		t.Fatalf("span reads %d bytes (%v), equal %v", n, err, bytes.Equal(p, u.bytes()[100:100+G]))
	}
	sp.Release()
	if st := s.Stats(); st.Hits != 1 || st.BytesFromCache != G {
		t.Fatalf("after the span Hits = %d, BytesFromCache = %d; want 1, %d", st.Hits, st.BytesFromCache, G)
	}

	for _, tc := range []struct {
		name string
		coh  Coherency
		off  int64
		n    int
	}{
		{"a granule not cached", u.coh(), G, 2 * G},
		{"another version", func() Coherency { c := u.coh(); c.Size++; return c }(), 0, G},
		{"past the size", u.coh(), 3 * G, 200},
		{"nothing", u.coh(), 0, 0},
	} {
		if _, ok := s.ReadSpan(testVol, fh, tc.coh, tc.off, tc.n, nofetch); ok {
			t.Fatalf("%s: got a span", tc.name)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart nothing is checked yet: ReadAt checks, then spans.
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	if _, ok := s2.ReadSpan(testVol, fh, u.coh(), 0, G, nofetch); ok {
		t.Fatal("span of a granule not checked since the restart")
	}
	readCheck(t, s2, fh, u, 0, G)
	sp, ok = s2.ReadSpan(testVol, fh, u.coh(), 0, G, nofetch)
	if !ok {
		t.Fatal("no span once ReadAt checked the granule")
	}
	sp.Release()
	paranoid := openTest(t, Options{Readahead: -1, Paranoid: true})
	readCheck(t, paranoid, fh, u, 0, G)
	settle(t, paranoid)
	if _, ok := paranoid.ReadSpan(testVol, fh, u.coh(), 0, G, nofetch); ok {
		t.Fatal("span with Paranoid set")
	}
}
