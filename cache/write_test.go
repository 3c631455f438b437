package cache

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// wrote applies a write to the upstream and tells the store, the way the
// proxy does after forwarding a WRITE: pre from before, post from after.
func wrote(s *Store, u *upstream, fh []byte, data []byte, off int64) {
	pre := u.coh()
	u.mu.Lock()
	if end := int(off) + len(data); end > len(u.data) {
		u.data = append(u.data, make([]byte, end-len(u.data))...)
	}
	copy(u.data[off:], data)
	u.ver++
	u.mu.Unlock()
	s.WroteAt(testVol, fh, pre, u.coh(), data, off)
}

func TestWroteAt(t *testing.T) {
	const G = testGranule
	tests := []struct {
		name        string
		size        int
		cached      [2]int64 // granule range [from, to) cached before the write
		off         int64
		n           int
		wantFetches int64 // reading the whole file afterwards
	}{
		{"inside a present granule", 4 * G, [2]int64{0, 4}, G + 10, 100, 0},
		{"across two present granules", 4 * G, [2]int64{0, 4}, G + G/2, G, 0},
		{"partly over an absent granule", 4 * G, [2]int64{0, 2}, G + G/2, G, 2}, // granules 2, 3 stay absent
		{"covering an absent granule", 4 * G, [2]int64{0, 2}, 2 * G, G, 1},      // granule 3 only
		{"extending the partial last granule", 2*G + 100, [2]int64{0, 3}, 2*G + 100, 50, 0},
		{"extending past a gap", 2*G + 100, [2]int64{0, 3}, 2*G + 300, 50, 0}, // the gap reads as zeros
		{"appending whole granules", 2 * G, [2]int64{0, 2}, 2 * G, 2 * G, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Options{Readahead: -1})
			u := newUpstream(tc.size, 50)
			fh := fhOf(50)
			from, to := tc.cached[0]*G, min(tc.cached[1]*G, int64(tc.size))
			readCheck(t, s, fh, u, from, int(to-from))
			settle(t, s)
			wrote(s, u, fh, pattern(tc.n, 0xAA), tc.off)
			before := u.calls.Load()
			readCheck(t, s, fh, u, 0, len(u.bytes()))
			if got := u.calls.Load() - before; got != tc.wantFetches {
				t.Fatalf("fetches after the write = %d; want %d", got, tc.wantFetches)
			}
			if st := s.Stats(); st.Writes != 1 || st.Invalidations != 0 {
				t.Fatalf("Writes, Invalidations = %d, %d; want 1, 0", st.Writes, st.Invalidations)
			}
		})
	}
}

func TestWroteAtWithForeignChangeInvalidates(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(3*testGranule, 51)
	fh := fhOf(51)
	readCheck(t, s, fh, u, 0, 3*testGranule)
	settle(t, s)
	u.set(pattern(3*testGranule, 52)) // someone else wrote first
	wrote(s, u, fh, []byte("ours"), 10)
	if st := s.Stats(); st.Invalidations != 1 || st.Writes != 0 {
		t.Fatalf("Invalidations, Writes = %d, %d; want 1, 0", st.Invalidations, st.Writes)
	}
	before := u.calls.Load()
	readCheck(t, s, fh, u, 0, 3*testGranule)
	if got := u.calls.Load() - before; got != 3 {
		t.Fatalf("fetches = %d; want 3", got)
	}
}

func TestWroteAtUncachedDoesNothing(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(testGranule, 53)
	wrote(s, u, fhOf(53), []byte("x"), 0)
	if st := s.Stats(); st.Objects != 0 || st.Writes != 0 {
		t.Fatalf("Objects, Writes = %d, %d; want 0, 0", st.Objects, st.Writes)
	}
}

func TestWroteAtSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(2*testGranule, 54)
	fh := fhOf(54)
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	readCheck(t, s, fh, u, 0, 2*testGranule)
	settle(t, s)
	wrote(s, u, fh, []byte("hello, cache"), 4000)
	mustNotErr(t, s.Close())
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 2*testGranule)
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches after reopen = %d; want 0", got)
	}
}

// A fetch that started before a write must not serve readers of the
// version after it, nor be stored.
func TestFlightFromBeforeWriteIsNotJoined(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(2*testGranule, 55)
	fh := fhOf(55)
	gate := make(chan struct{})
	u.gate = gate
	old := u.bytes()[:testGranule]
	pre := u.coh()
	var wg sync.WaitGroup
	read := func(coh Coherency, want []byte) {
		defer wg.Done()
		p := make([]byte, testGranule)
		if _, err := s.ReadAt(context.Background(), testVol, fh, coh, p, 0, FetcherFunc(u.fetch)); err != nil {
			t.Error(err)
		} else if !bytes.Equal(p, want) {
			t.Errorf("read at version %d: wrong bytes", coh.Mtime.Sec)
		}
	}
	wg.Add(1)
	go read(pre, old)
	await.Until(t, "the first fetch", func() bool { return u.calls.Load() == 1 })
	wrote(s, u, fh, []byte("new bytes"), 10)
	post := u.coh()
	wg.Add(1)
	go read(post, u.bytes()[:testGranule])
	await.Until(t, "a second fetch or a join", func() bool {
		return u.calls.Load() == 2 || s.Stats().FlightJoins > 0
	})
	if got := s.Stats().FlightJoins; got != 0 {
		t.Fatalf("FlightJoins = %d; want 0", got)
	}
	close(gate)
	wg.Wait()
	settle(t, s)
	before := u.calls.Load()
	readCheck(t, s, fh, u, 0, testGranule)
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches = %d; want 0 (the post-write fetch was stored)", got)
	}
}

// TestFlushWindowSkipsDroppedObjects: a file written through the proxy
// and removed within the flush window (a build's temporary) costs the
// cache no fdatasync and no record write, while one that stays is made
// durable at Close and served after a restart without a fetch.
func TestFlushWindowSkipsDroppedObjects(t *testing.T) {
	dir := t.TempDir()
	ff := NewFaultFS(nil)
	s := openTest(t, Options{Dir: dir, FS: ff, Readahead: -1, FlushDelay: time.Hour})
	tmp, kept := newUpstream(0, 60), newUpstream(0, 61)
	wrote(s, tmp, fhOf(60), pattern(4096, 1), 0)
	wrote(s, kept, fhOf(61), pattern(testGranule, 2), 0)
	s.Invalidate(testVol, fhOf(60)) // REMOVE of the temporary
	if n := ff.Count(OpSync); n != 0 {
		t.Fatalf("fdatasyncs within the window = %d; want 0", n)
	}
	if st := s.Stats(); st.RecordWrites != 0 {
		t.Fatalf("RecordWrites within the window = %d; want 0", st.RecordWrites)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := ff.Count(OpSync); n != 1 {
		t.Fatalf("fdatasyncs after Close = %d; want 1 (the kept file only)", n)
	}

	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := kept.calls.Load()
	readCheck(t, s2, fhOf(61), kept, 0, testGranule)
	if got := kept.calls.Load() - before; got != 0 {
		t.Fatalf("fetches after the restart = %d; want 0 (the record was written at Close)", got)
	}
}

// TestFlushWindowBoundedByOpenObjects: every object waiting for the
// flusher holds its descriptor, so a burst of new objects ends the
// window once half of MaxOpenObjects are queued, however long it is.
func TestFlushWindowBoundedByOpenObjects(t *testing.T) {
	ff := NewFaultFS(nil)
	s := openTest(t, Options{FS: ff, Readahead: -1, FlushDelay: time.Hour, MaxOpenObjects: 8})
	for i := range 3 {
		u := newUpstream(0, byte(70+i))
		wrote(s, u, fhOf(70+i), pattern(4096, byte(i)), 0)
	}
	if n := ff.Count(OpSync); n != 0 {
		t.Fatalf("fdatasyncs with 3 objects queued = %d; want 0 (the window holds them)", n)
	}
	u := newUpstream(0, 73)
	wrote(s, u, fhOf(73), pattern(4096, 3), 0) // the fourth: half of 8
	// (A record may be written before its granule is, and again after:
	// what proves the window ended is the granules' fdatasyncs.)
	await.Until(t, "the flusher to sync the four files", func() bool {
		return ff.Count(OpSync) >= 4
	})
	if n := ff.Count(OpSync); n != 4 {
		t.Fatalf("fdatasyncs = %d; want 4", n)
	}
}
