package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

func TestHitAfterFill(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(10*testGranule, 1)
	fh := fhOf(1)
	readCheck(t, s, fh, u, 0, 10*testGranule)
	if got := u.calls.Load(); got != 10 {
		t.Fatalf("fetches after first read = %d; want 10 (one per granule)", got)
	}
	settle(t, s)
	readCheck(t, s, fh, u, 0, 10*testGranule)
	if got := u.calls.Load(); got != 10 {
		t.Fatalf("fetches after second read = %d; want still 10", got)
	}
	st := s.Stats()
	if st.Hits != 1 || st.Misses != 1 || st.Fills != 10 {
		t.Fatalf("Hits, Misses, Fills = %d, %d, %d; want 1, 1, 10", st.Hits, st.Misses, st.Fills)
	}
	if st.BytesFromCache != 10*testGranule || st.BytesFromUpstream != 10*testGranule {
		t.Fatalf("BytesFromCache, BytesFromUpstream = %d, %d; want %d each", st.BytesFromCache, st.BytesFromUpstream, 10*testGranule)
	}
	if st.BytesUsed != 10*testGranule || st.Objects != 1 {
		t.Fatalf("BytesUsed, Objects = %d, %d; want %d, 1", st.BytesUsed, st.Objects, 10*testGranule)
	}
}

func TestStraddlingReads(t *testing.T) {
	const G = testGranule
	tests := []struct {
		name        string
		off         int64
		n           int
		wantFetches int64
	}{
		{"inside present granule", G + 10, 100, 0},
		{"present then missing", G + G/2, G, 2},               // granule 2, and its first half for the reader
		{"two present granules", 2*G + G/2, G, 0},             // granule 2 filled by the case above
		{"across missing, present, missing", G / 2, 5 * G, 4}, // granules 0, 4, 5 (prefetched), and the reader's half of 0
		{"all cached now", 0, 6 * G, 0},
	}
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(8*G, 2)
	fh := fhOf(2)
	readCheck(t, s, fh, u, G, G)   // granule 1
	readCheck(t, s, fh, u, 3*G, G) // granule 3
	settle(t, s)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := u.calls.Load()
			readCheck(t, s, fh, u, tc.off, tc.n)
			settle(t, s)
			if got := u.calls.Load() - before; got != tc.wantFetches {
				t.Fatalf("fetches = %d; want %d", got, tc.wantFetches)
			}
		})
	}
}

func TestEOFAndPartialLastGranule(t *testing.T) {
	const G = testGranule
	size := 3*G + 100
	tests := []struct {
		name string
		off  int64
		n    int
	}{
		{"whole file and more", 0, 5 * G},
		{"last partial granule", 3 * G, G},
		{"crossing EOF", 3*G + 50, 200},
		{"at EOF", int64(size), 10},
		{"past EOF", int64(size) + G, 10},
	}
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(size, 3)
	fh := fhOf(3)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { readCheck(t, s, fh, u, tc.off, tc.n) })
	}
	settle(t, s)
	before := u.calls.Load()
	for _, tc := range tests {
		readCheck(t, s, fh, u, tc.off, tc.n)
	}
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches on second pass = %d; want 0 (partial last granule cached)", got)
	}
	if got := u.fetchesAt(3 * G); got != 1 {
		t.Fatalf("fetches of the last granule = %d; want 1", got)
	}
}

func TestUpstreamShorterThanCoherency(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(2*testGranule, 4)
	coh := u.coh()
	coh.Size = 3 * testGranule // stale attributes: the file shrank
	p := make([]byte, 3*testGranule)
	n, err := s.ReadAt(context.Background(), testVol, fhOf(4), coh, p, 0, FetcherFunc(u.fetch))
	if err != nil || n != 2*testGranule {
		t.Fatalf("ReadAt = %d, %v; want %d, nil", n, err, 2*testGranule)
	}
	settle(t, s)
	if st := s.Stats(); st.Fills != 2 {
		t.Fatalf("Fills = %d; want 2 (the short granule is not stored)", st.Fills)
	}
}

func TestCoherencyChangeInvalidates(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(4*testGranule, 5)
	fh := fhOf(5)
	readCheck(t, s, fh, u, 0, 4*testGranule)
	settle(t, s)
	u.set(pattern(3*testGranule, 55))
	before := u.calls.Load()
	readCheck(t, s, fh, u, 0, 4*testGranule)
	if got := u.calls.Load() - before; got != 3 {
		t.Fatalf("fetches after change = %d; want 3", got)
	}
	st := s.Stats()
	if st.Invalidations != 1 {
		t.Fatalf("Invalidations = %d; want 1", st.Invalidations)
	}
	settle(t, s)
	await.Until(t, "the reaper to empty the graveyard", func() bool {
		names, _ := os.ReadDir(s.graveDir)
		return len(names) == 0 && s.Stats().Reaped >= 1
	})
	if got := s.Stats().BytesUsed; got != 3*testGranule {
		t.Fatalf("BytesUsed = %d; want %d", got, 3*testGranule)
	}
}

func TestExplicitInvalidate(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(2*testGranule, 6)
	fh := fhOf(6)
	readCheck(t, s, fh, u, 0, 2*testGranule)
	settle(t, s)
	s.Invalidate(testVol, fh)
	// Dropped, not replaced: no empty inode is left under the name, and
	// the object no longer counts.
	if _, err := os.Stat(objectPath(s.opts.Dir, fh)); !os.IsNotExist(err) {
		t.Fatalf("after Invalidate the object's file: %v; want it gone", err)
	}
	if st := s.Stats(); st.Objects != 0 || st.BytesUsed != 0 {
		t.Fatalf("after Invalidate Objects = %d, BytesUsed = %d; want 0, 0", st.Objects, st.BytesUsed)
	}
	before := u.calls.Load()
	readCheck(t, s, fh, u, 0, 2*testGranule)
	if got := u.calls.Load() - before; got != 2 {
		t.Fatalf("fetches after Invalidate = %d; want 2", got)
	}
	settle(t, s)
	if st := s.Stats(); st.Objects != 1 || st.BytesUsed != 2*testGranule {
		t.Fatalf("after the next read Objects = %d, BytesUsed = %d; want 1, %d", st.Objects, st.BytesUsed, 2*testGranule)
	}
	readCheck(t, s, fh, u, 0, 2*testGranule)
	if got := u.calls.Load() - before; got != 2 {
		t.Fatalf("fetches after the re-read = %d; want 2 (served from the new object)", got)
	}
	s.Invalidate(testVol, fhOf(999)) // never cached: nothing happens
	if st := s.Stats(); st.Invalidations != 1 {
		t.Fatalf("Invalidations = %d; want 1", st.Invalidations)
	}
}

func TestInvalidateWhileReading(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(2*testGranule, 7)
	fh := fhOf(7)
	readCheck(t, s, fh, u, 0, testGranule)
	settle(t, s)
	gate := make(chan struct{})
	u.mu.Lock()
	u.gate = gate
	u.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readCheck(t, s, fh, u, 0, 2*testGranule) // granule 1 waits at the gate
	}()
	await.Until(t, "the reader to reach the upstream", func() bool { return u.calls.Load() == 2 })
	s.Invalidate(testVol, fh)
	close(gate)
	wg.Wait()
	settle(t, s)
	if present(s, fh, 1) {
		t.Fatal("granule fetched for the invalidated object is present in its replacement")
	}
}

func TestSingleFlight(t *testing.T) {
	const readers = 8
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(testGranule, 8)
	gate := make(chan struct{})
	u.gate = gate
	fh := fhOf(8)
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readCheck(t, s, fh, u, int64(i*100), 100)
		}()
	}
	await.Until(t, "readers to join the flight", func() bool { return s.Stats().FlightJoins == readers-1 })
	close(gate)
	wg.Wait()
	// The granule once, and the first reader's own 100 bytes, which it
	// fetched beside the granule rather than waiting for all of it.
	if got := u.calls.Load(); got != 2 {
		t.Fatalf("fetches = %d; want 2", got)
	}
}

func TestReadahead(t *testing.T) {
	const ra = 4
	s := openTest(t, Options{Readahead: ra})
	u := newUpstream(32*testGranule, 9)
	fh := fhOf(9)
	readCheck(t, s, fh, u, 0, testGranule) // sequential from 0: 1..4 ahead
	await.Until(t, "readahead of granules 1..4", func() bool {
		for g := int64(1); g <= ra; g++ {
			if !present(s, fh, g) {
				return false
			}
		}
		return true
	})
	settle(t, s)
	readCheck(t, s, fh, u, testGranule, testGranule) // and 5
	await.Until(t, "readahead of granules 2..5", func() bool {
		for g := int64(2); g < 2+ra; g++ {
			if !present(s, fh, g) {
				return false
			}
		}
		return true
	})
	settle(t, s)
	for g := int64(2); g < 2+ra; g++ {
		readCheck(t, s, fh, u, g*testGranule, testGranule)
	}
	settle(t, s)
	if hits := s.Stats().Hits; hits < ra+1 {
		t.Fatalf("Hits = %d; want >= %d", hits, ra+1)
	}
	if got := s.Stats().Readaheads; got < ra+1 {
		t.Fatalf("Readaheads = %d; want >= %d", got, ra+1)
	}
	for g := int64(0); g < 32; g++ {
		if n := u.fetchesAt(g * testGranule); n > 1 {
			t.Fatalf("granule %d fetched %d times; want at most 1", g, n)
		}
	}
	for g := int64(1); g < 2+ra; g++ {
		if n := u.fetchesAt(g * testGranule); n != 1 {
			t.Fatalf("granule %d fetched %d times; want once, by readahead", g, n)
		}
	}
}

func TestLockRefusesSecondOpen(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v; want ErrLocked", err)
	}
	if want := "PID " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("second Open error %q does not name %q", err, want)
	}
}

func TestReopenReusesCache(t *testing.T) {
	tests := []struct {
		name     string
		opts     func() Options
		wantSide bool
	}{
		{"xattr", func() Options { return Options{} }, false},
		{"NoXattr option", func() Options { return Options{NoXattr: true} }, true},
		{"xattrs unsupported", func() Options {
			f := NewFaultFS(nil)
			f.FailAll(OpSetXattr, syscall.ENOTSUP)
			f.FailAll(OpGetXattr, syscall.ENOTSUP)
			return Options{FS: f}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			u := newUpstream(20*testGranule+7, 10)
			fh := fhOf(10)
			opts := tc.opts()
			opts.Dir = dir
			s := openTest(t, opts)
			readCheck(t, s, fh, u, 0, 21*testGranule)
			mustNotErr(t, s.Close())
			_, err := os.Stat(objectPath(dir, fh) + sidecarSuffix)
			if gotSide := err == nil; gotSide != tc.wantSide {
				t.Fatalf("sidecar exists = %v; want %v", gotSide, tc.wantSide)
			}
			opts = tc.opts()
			opts.Dir = dir
			s2 := openTest(t, opts)
			before := u.calls.Load()
			readCheck(t, s2, fh, u, 0, 21*testGranule)
			if got := u.calls.Load() - before; got != 0 {
				t.Fatalf("fetches after reopen = %d; want 0", got)
			}
		})
	}
}

func TestLargeRecordGoesToSidecar(t *testing.T) {
	dir := t.TempDir()
	const granules = 1500 // 1500 CRCs: over the xattr budget
	u := newUpstream(granules*testGranule, 11)
	fh := fhOf(11)
	s := openTest(t, Options{Dir: dir})
	readCheck(t, s, fh, u, 0, granules*testGranule)
	mustNotErr(t, s.Close())
	side := dir + "/cache/" + volumeDirName(testVol) + "/" + fanoutName(fh) + "/" + handleName(fh) + sidecarSuffix
	if _, err := os.Stat(side); err != nil {
		t.Fatalf("sidecar for a %d-granule record: %v", granules, err)
	}
	s2 := openTest(t, Options{Dir: dir})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, granules*testGranule)
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches after reopen = %d; want 0", got)
	}
}

func TestClosedStorePassesThrough(t *testing.T) {
	s := openTest(t, Options{})
	mustNotErr(t, s.Close())
	u := newUpstream(testGranule, 12)
	readCheck(t, s, fhOf(12), u, 0, testGranule)
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v; want ErrClosed", err)
	}
}

func TestFetcherErrorIsReturned(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(testGranule, 13)
	boom := errors.New("upstream down")
	u.err = boom
	_, err := s.ReadAt(context.Background(), testVol, fhOf(13), u.coh(), make([]byte, 10), 0, FetcherFunc(u.fetch))
	if !errors.Is(err, boom) {
		t.Fatalf("ReadAt error = %v; want the fetcher's", err)
	}
}

func TestIdleObjectsAreClosedAndReused(t *testing.T) {
	const maxOpen = 4
	s := openTest(t, Options{Readahead: -1, MaxOpenObjects: maxOpen})
	us := make([]*upstream, 20)
	for i := range us {
		us[i] = newUpstream(2*testGranule, byte(i))
		readCheck(t, s, fhOf(i), us[i], 0, 2*testGranule)
	}
	settle(t, s)
	if got := s.Stats().OpenObjects; got > maxOpen {
		t.Fatalf("OpenObjects = %d; want <= %d", got, maxOpen)
	}
	for i, u := range us {
		before := u.calls.Load()
		readCheck(t, s, fhOf(i), u, 0, 2*testGranule)
		if got := u.calls.Load() - before; got != 0 {
			t.Fatalf("object %d: fetches after being closed = %d; want 0", i, got)
		}
	}
}

// TestVolumeStats: each volume's reads are counted under its own id, and
// the per-volume counters add up to the store's.
func TestVolumeStats(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(4*testGranule, 1)
	readCheck(t, s, fhOf(1), u, 0, 4*testGranule) // volume 1: a miss
	settle(t, s)
	readCheck(t, s, fhOf(1), u, 0, 4*testGranule) // volume 1: a hit
	other := VolumeKey{Server: "srv", Export: "/other", ID: 2}
	p := make([]byte, testGranule)
	if n, fromUp, err := s.ReadAtFrom(context.Background(), other, fhOf(1), u.coh(), p, 0, FetcherFunc(u.fetch)); err != nil || n != testGranule || fromUp != testGranule {
		t.Fatalf("ReadAtFrom of an uncached granule = %d, %d from upstream, %v; want %d, all from upstream", n, fromUp, err, testGranule)
	}
	settle(t, s)
	if n, fromUp, err := s.ReadAtFrom(context.Background(), testVol, fhOf(1), u.coh(), p, 0, FetcherFunc(u.fetch)); err != nil || n != testGranule || fromUp != 0 {
		t.Fatalf("ReadAtFrom of a cached granule = %d, %d from upstream, %v; want %d, none from upstream", n, fromUp, err, testGranule)
	}
	v1, v2, none := s.VolumeStats(1), s.VolumeStats(2), s.VolumeStats(3)
	if want := (VolumeStats{Reads: 3, Hits: 2, Misses: 1, BytesFromCache: 5 * testGranule, BytesFromUpstream: 4 * testGranule}); v1 != want {
		t.Errorf("VolumeStats(1) = %+v; want %+v", v1, want)
	}
	if want := (VolumeStats{Reads: 1, Misses: 1, BytesFromUpstream: testGranule}); v2 != want {
		t.Errorf("VolumeStats(2) = %+v; want %+v", v2, want)
	}
	if none != (VolumeStats{}) {
		t.Errorf("VolumeStats(3) = %+v; want zero", none)
	}
	st := s.Stats()
	if st.Hits != v1.Hits+v2.Hits || st.Misses != v1.Misses+v2.Misses || st.BytesFromUpstream != v1.BytesFromUpstream+v2.BytesFromUpstream {
		t.Errorf("store %+v is not the sum of volumes %+v and %+v", st, v1, v2)
	}
}

// A small read of a missing granule is answered with its own bytes while
// the whole granule is still on its way: the granule fetch here is held
// until the read returned, and is stored afterwards.
func TestSmallMissDoesNotWaitForGranule(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(2*testGranule, 12)
	fh := fhOf(12)
	gate := make(chan struct{})
	fetch := FetcherFunc(func(ctx context.Context, p []byte, off int64) (int, bool, error) {
		if len(p) == testGranule {
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, false, ctx.Err()
			}
		}
		return u.fetch(ctx, p, off)
	})
	p := make([]byte, 100)
	n, err := s.ReadAt(context.Background(), testVol, fh, u.coh(), p, testGranule+1000, fetch)
	if err != nil || n != len(p) {
		t.Fatalf("ReadAt = %d, %v; want %d, nil", n, err, len(p))
	}
	if want := u.bytes()[testGranule+1000 : testGranule+1100]; !bytes.Equal(p, want) {
		t.Fatal("bytes differ from upstream")
	}
	close(gate)
	settle(t, s)
	if !present(s, fh, 1) {
		t.Fatal("granule 1 not stored after its background fetch")
	}
	before := u.calls.Load()
	readCheck(t, s, fh, u, testGranule, testGranule)
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches for the stored granule = %d; want 0", got)
	}
}

// maxPresent is the highest granule of (testVol, fh) in the map, or -1.
func maxPresent(s *Store, fh []byte, granules int64) int64 {
	for g := granules - 1; g >= 0; g-- {
		if present(s, fh, g) {
			return g
		}
	}
	return -1
}

func TestReadaheadWindow(t *testing.T) {
	const G = testGranule
	// Each step reads one granule, then settles; want is the highest
	// granule present afterwards.
	tests := []struct {
		name string
		off  int64
		want int64
	}{
		{"stream from 0: window 4", 0, 4},
		{"issued in full: doubled to 8", G, 1 + 8},
		{"doubled to 16, the maximum", 2 * G, 2 + 16},
		{"stays at 16", 3 * G, 3 + 16},
		{"out of order, still the stream", 5 * G, 5 + 16},
		{"behind the head, still the stream", 4 * G, 5 + 16},
		{"random access: nothing issued", 40 * G, 40},
		{"first sequential read after it: not yet a stream", 41 * G, 41},
		{"second: a stream again, window 4", 42 * G, 42 + 4},
	}
	s := openTest(t, Options{Readahead: 16})
	u := newUpstream(64*G, 13)
	fh := fhOf(13)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			readCheck(t, s, fh, u, tc.off, G)
			settle(t, s)
			if got := maxPresent(s, fh, 64); got != tc.want {
				t.Fatalf("highest granule present = %d; want %d", got, tc.want)
			}
		})
	}
}
