package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

func TestCullingKeepsUnderCapAndHotObject(t *testing.T) {
	const maxBytes = 16 * testGranule
	clk := newClock()
	s := openTest(t, Options{MaxBytes: maxBytes, Readahead: -1, CullInterval: time.Hour, Clock: clk})
	await.Until(t, "the startup walk", func() bool { return s.Stats().IndexReady })
	hot := newUpstream(4*testGranule, 40)
	hotFH := fhOf(1000)
	readCheck(t, s, hotFH, hot, 0, 4*testGranule)
	for i := 0; i < 40; i++ {
		u := newUpstream(4*testGranule, byte(i))
		clk.Advance(time.Millisecond) // distinct last-use times: object i, then the hot one
		readCheck(t, s, fhOf(i), u, 0, 4*testGranule)
		clk.Advance(time.Millisecond)
		readCheck(t, s, hotFH, hot, 0, 4*testGranule)
		if used := s.Stats().BytesUsed; used > maxBytes {
			t.Fatalf("after object %d: BytesUsed = %d; want <= %d", i, used, maxBytes)
		}
		if i%8 == 7 {
			settle(t, s)
			s.cullCheck(true) // what the culler does when kicked
		}
	}
	settle(t, s)
	s.cullCheck(true)
	st := s.Stats()
	if st.Culls == 0 {
		t.Fatalf("Culls = 0; want > 0 for a workload 10x the cap")
	}
	if st.BytesUsed > maxBytes {
		t.Fatalf("BytesUsed = %d; want <= %d", st.BytesUsed, maxBytes)
	}
	before := hot.calls.Load()
	readCheck(t, s, hotFH, hot, 0, 4*testGranule)
	if got := hot.calls.Load() - before; got != 0 {
		t.Fatalf("hot object fetches = %d; want 0 (it must stay cached)", got)
	}
	du, err := ReadStats(s.root)
	if err != nil {
		t.Fatal(err)
	}
	if du.Objects != st.Objects {
		t.Fatalf("ReadStats objects = %d; Stats objects = %d; want equal", du.Objects, st.Objects)
	}
}

func TestStopLimitServesUncached(t *testing.T) {
	f := NewFaultFS(nil)
	s := openTest(t, Options{FS: f, Readahead: -1, CullInterval: time.Hour})
	f.SetStatfs(&FSStat{Blocks: 100, BlocksAvail: 2, Files: 100, FilesFree: 50})
	s.cullCheck(false)
	u := newUpstream(2*testGranule, 41)
	readCheck(t, s, fhOf(41), u, 0, 2*testGranule)
	settle(t, s)
	if st := s.Stats(); st.Fills != 0 || st.NoSpace == 0 {
		t.Fatalf("below bstop: Fills, NoSpace = %d, %d; want 0, > 0", st.Fills, st.NoSpace)
	}
	f.SetStatfs(nil)
	s.cullCheck(false)
	readCheck(t, s, fhOf(41), u, 0, 2*testGranule)
	settle(t, s)
	if st := s.Stats(); st.Fills != 2 {
		t.Fatalf("back above bstop: Fills = %d; want 2", st.Fills)
	}
}

func TestStatfsCullLimit(t *testing.T) {
	f := NewFaultFS(nil)
	s := openTest(t, Options{FS: f, Readahead: -1, CullInterval: time.Hour})
	await.Until(t, "the startup walk", func() bool { return s.Stats().IndexReady })
	for i := 0; i < 5; i++ {
		readCheck(t, s, fhOf(i), newUpstream(testGranule, byte(i)), 0, testGranule)
	}
	settle(t, s)
	f.SetStatfs(&FSStat{Blocks: 100, BlocksAvail: 5, Files: 100, FilesFree: 50}) // below bcull, above bstop
	s.cullCheck(true)
	if st := s.Stats(); st.Culls != 5 || st.Objects != 0 || st.BytesUsed != 0 {
		t.Fatalf("Culls, Objects, BytesUsed = %d, %d, %d; want 5, 0, 0 (free space never recovers)", st.Culls, st.Objects, st.BytesUsed)
	}
}

func TestCullTo(t *testing.T) {
	clk := newClock()
	s := openTest(t, Options{Readahead: -1, Clock: clk})
	us := make([]*upstream, 6)
	for i := range us {
		us[i] = newUpstream(2*testGranule, byte(i))
		readCheck(t, s, fhOf(i), us[i], 0, 2*testGranule)
		// The granules are stored in the background, which touches the
		// object too: let that finish before the clock moves on, so each
		// object's last use is its own distinct time.
		settle(t, s)
		clk.Advance(time.Millisecond)
	}
	if err := s.CullTo(4 * testGranule); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.BytesUsed != 4*testGranule || st.Culls != 4 {
		t.Fatalf("BytesUsed, Culls = %d, %d; want %d, 4", st.BytesUsed, st.Culls, 4*testGranule)
	}
	for i, u := range us {
		before := u.calls.Load()
		readCheck(t, s, fhOf(i), u, 0, 2*testGranule)
		want := int64(0)
		if i < 4 {
			want = 2 // the four least recently used went
		}
		if got := u.calls.Load() - before; got != want {
			t.Fatalf("object %d: fetches = %d; want %d", i, got, want)
		}
	}
}

func TestCullToSkipsObjectsInUse(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(testGranule, 42)
	readCheck(t, s, fhOf(42), u, 0, testGranule)
	settle(t, s)
	o := s.acquire(testVol, fhOf(42), false, Coherency{})
	defer s.release(o)
	if err := s.CullTo(0); !errors.Is(err, ErrCullIncomplete) {
		t.Fatalf("CullTo(0) with the object in use: %v; want ErrCullIncomplete", err)
	}
}

func TestOpenIsLazy(t *testing.T) {
	const objects = 3000
	dir := t.TempDir()
	vdir := filepath.Join(dir, "cache", volumeDirName(testVol))
	for i := 0; i < objects; i++ {
		fh := fhOf(i)
		d := filepath.Join(vdir, fanoutName(fh))
		os.MkdirAll(d, 0o700)
		if err := os.WriteFile(filepath.Join(d, handleName(fh)), make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := NewFaultFS(nil)
	start := time.Now()
	s := openTest(t, Options{Dir: dir, FS: f})
	opened := time.Since(start)
	await.Until(t, "the startup walk", func() bool { return s.Stats().IndexReady })
	t.Logf("%d objects: Open %v, index ready after %v", objects, opened, time.Since(start))
	if st := s.Stats(); st.Objects != objects {
		t.Fatalf("Objects = %d; want %d", st.Objects, objects)
	}
	if n := f.Count(OpOpen) + f.Count(OpGetXattr); n != 0 {
		t.Fatalf("Open and the walk opened or read %d objects; want 0", n)
	}
}

func TestVanishedCacheDir(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	u := newUpstream(2*testGranule, 43)
	fh := fhOf(43)
	readCheck(t, s, fh, u, 0, 2*testGranule)
	settle(t, s)
	if err := os.RemoveAll(filepath.Join(dir, "cache")); err != nil {
		t.Fatal(err)
	}
	readCheck(t, s, fh, u, 0, 2*testGranule) // still open: served
	u2 := newUpstream(2*testGranule, 44)
	readCheck(t, s, fhOf(44), u2, 0, 2*testGranule) // directories recreated
	settle(t, s)
	before := u2.calls.Load()
	readCheck(t, s, fhOf(44), u2, 0, 2*testGranule)
	if got := u2.calls.Load() - before; got != 0 {
		t.Fatalf("fetches for a new object after the directory vanished = %d; want 0", got)
	}
	u.set(pattern(2*testGranule, 143))
	readCheck(t, s, fh, u, 0, 2*testGranule) // invalidation with the old name gone
	settle(t, s)
	before = u.calls.Load()
	readCheck(t, s, fh, u, 0, 2*testGranule)
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches after re-creating the invalidated object = %d; want 0", got)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		s, err := Open(Options{Dir: dir, GranuleSize: testGranule, Readahead: 8})
		if err != nil {
			t.Fatal(err)
		}
		u := newUpstream(64*testGranule, 45)
		for off := int64(0); off < 16*testGranule; off += testGranule {
			readCheck(t, s, fhOf(45), u, off, testGranule)
		}
		s.Invalidate(testVol, fhOf(45))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	goleak.VerifyNone(t)
}

// TestCullIntervalTicks: with nothing kicking it, the culler notices low
// free space when its interval passes on the clock, and not before.
func TestCullIntervalTicks(t *testing.T) {
	const interval = time.Minute
	clk := newClock()
	f := NewFaultFS(nil)
	s := openTest(t, Options{FS: f, Readahead: -1, CullInterval: interval, Clock: clk})
	for i := 0; i < 3; i++ {
		readCheck(t, s, fhOf(i), newUpstream(testGranule, byte(i)), 0, testGranule)
	}
	settle(t, s)
	// The culler checks once before and once after the startup walk, then
	// waits for its ticker (or a kick, which nothing here sends).
	await.Until(t, "the culler's first two free-space checks", func() bool { return f.Count(OpStatfs) >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), await.Deadline)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("waiting for the culler's ticker: %v", err)
	}
	f.SetStatfs(&FSStat{Blocks: 100, BlocksAvail: 5, Files: 100, FilesFree: 50}) // below bcull
	clk.Advance(interval - time.Nanosecond)
	if st := s.Stats(); st.Culls != 0 {
		t.Fatalf("before the interval: Culls = %d; want 0", st.Culls)
	}
	clk.Advance(time.Nanosecond)
	await.Until(t, "the culler to cull 3 objects on its tick", func() bool { return s.Stats().Culls == 3 })
	if got := f.Count(OpStatfs); got < 3 {
		t.Fatalf("statfs calls = %d; want >= 3 (the tick checked free space)", got)
	}
}

// Last use survives a restart (as the file's atime), so LRU order does.
func TestLastUseSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	s := openTest(t, Options{Dir: dir, Readahead: -1, Clock: clk})
	us := make([]*upstream, 4)
	for i := range us {
		us[i] = newUpstream(testGranule, byte(i))
		readCheck(t, s, fhOf(i), us[i], 0, testGranule)
		clk.Advance(time.Millisecond) // distinct last-use times
	}
	readCheck(t, s, fhOf(0), us[0], 0, testGranule) // 0 is now the newest
	mustNotErr(t, s.Close())
	s2 := openTest(t, Options{Dir: dir, Readahead: -1, Clock: clk})
	await.Until(t, "the startup walk", func() bool { return s2.Stats().IndexReady })
	if err := s2.CullTo(s2.Stats().BytesUsed / 2); err != nil { // two of four equal objects
		t.Fatal(err)
	}
	for i, want := range []int64{0, 1, 1, 0} { // 1 and 2 were least recently used
		before := us[i].calls.Load()
		readCheck(t, s2, fhOf(i), us[i], 0, testGranule)
		if got := us[i].calls.Load() - before; got != want {
			t.Fatalf("object %d: fetches = %d; want %d", i, got, want)
		}
	}
}

// TestStopFlagKeepsNewestReading is the race behind a store below bstop:
// the culler reads statfs (room), the disk fills, a newer check reads it
// (full) and sets the flag, then the culler's older reading lands. The
// older reading must not clear the flag.
func TestStopFlagKeepsNewestReading(t *testing.T) {
	var f stopFlag
	older := f.begin()
	newer := f.begin()
	f.set(newer, true)
	f.set(older, false)
	if !f.Load() {
		t.Fatal("an older reading (room) cleared the stop set by a newer one (full)")
	}
	f.set(f.begin(), false)
	if f.Load() {
		t.Fatal("a newer reading (room) did not clear the stop")
	}
}
