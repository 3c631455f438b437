package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// walkGateFS holds the startup walk at its first lstat until gate is
// closed; reached is closed when the walk gets there. Only the walk (and
// Check, not used here) calls Lstat.
type walkGateFS struct {
	FS
	reached, gate chan struct{}
	first         bool
}

func (f *walkGateFS) Lstat(name string) (FileInfo, error) {
	if !f.first {
		f.first = true // only the walk's goroutine calls Lstat
		close(f.reached)
		<-f.gate
	}
	return f.FS.Lstat(name)
}

// A restart serves hits before the walk has indexed the cache, and the
// walk's later visit to an object already opened does not count its
// bytes again.
func TestHitBeforeWalkEnds(t *testing.T) {
	dir := t.TempDir()
	const n = 3
	us := make([]*upstream, n)
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	for i := range us {
		us[i] = newUpstream(testGranule+100, byte(60+i)) // a granule and a bit
		readCheck(t, s, fhOf(60+i), us[i], 0, testGranule+100)
	}
	settle(t, s)
	mustNotErr(t, s.Close())

	var walked int64 // what the walk counts for the objects not opened
	for i := 1; i < n; i++ {
		fh := fhOf(60 + i)
		st, err := OSFS().Lstat(filepath.Join(dir, "cache", volumeDirName(testVol), fanoutName(fh), handleName(fh)))
		if err != nil {
			t.Fatal(err)
		}
		walked += st.Blocks
	}

	g := &walkGateFS{FS: OSFS(), reached: make(chan struct{}), gate: make(chan struct{})}
	s2 := openTest(t, Options{Dir: dir, FS: g, Readahead: -1})
	await.Recv(t, "the walk's first lstat", g.reached)
	before := us[0].calls.Load()
	readCheck(t, s2, fhOf(60), us[0], 0, testGranule+100)
	if got := us[0].calls.Load() - before; got != 0 {
		t.Fatalf("fetches for a cached object before the walk ended = %d; want 0", got)
	}
	st := s2.Stats()
	if st.IndexReady || st.Hits != 1 || st.Objects != 1 || st.BytesUsed != testGranule+100 {
		t.Fatalf("during the walk: IndexReady, Hits, Objects, BytesUsed = %v, %d, %d, %d; want false, 1, 1, %d",
			st.IndexReady, st.Hits, st.Objects, st.BytesUsed, testGranule+100)
	}
	close(g.gate)
	await.Until(t, "the startup walk", func() bool { return s2.Stats().IndexReady })
	st = s2.Stats()
	if want := testGranule + 100 + walked; st.Objects != n || st.BytesUsed != want {
		t.Fatalf("after the walk: Objects, BytesUsed = %d, %d; want %d, %d (the opened object counted once)", st.Objects, st.BytesUsed, n, want)
	}
	// Culling everything accounts to zero: no bytes were counted twice.
	if err := s2.CullTo(0); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.Objects != 0 || st.BytesUsed != 0 || st.Culls != n {
		t.Fatalf("after CullTo(0): Objects, BytesUsed, Culls = %d, %d, %d; want 0, 0, %d", st.Objects, st.BytesUsed, st.Culls, n)
	}
}

// oldest hands out the index in LRU order, a bounded batch at a time,
// with equal last-use times ordered by volume and handle, and each batch
// resuming exactly after the previous one.
func TestIndexOldestBatches(t *testing.T) {
	var x index
	x.init(newClock())
	type key struct{ vol, fh string }
	var want []key
	for i := 0; i < 40; i++ {
		vol := fmt.Sprintf("Ivol%d", i%2)
		fh := fmt.Sprintf("fh-%02d", i)
		if !x.addWalked(x.volume(vol), fh, 1, int64(i/4)) { // four share each time
			t.Fatalf("addWalked(%s, %s) = false; want true", vol, fh)
		}
		want = append(want, key{vol, fh})
	}
	slices.SortFunc(want, func(a, b key) int {
		ia, ib := 0, 0
		fmt.Sscanf(a.fh, "fh-%d", &ia)
		fmt.Sscanf(b.fh, "fh-%d", &ib)
		if ia/4 != ib/4 {
			return ia/4 - ib/4
		}
		if a.vol != b.vol {
			if a.vol < b.vol {
				return -1
			}
			return 1
		}
		if a.fh < b.fh {
			return -1
		}
		return 1
	})
	for _, size := range []int{1, 3, 7, 40, 100} {
		var got []key
		var after *candidate
		for {
			batch := x.oldest(size, after)
			if len(batch) > size {
				t.Fatalf("batch of %d: got %d candidates", size, len(batch))
			}
			if len(batch) == 0 {
				break
			}
			for _, c := range batch {
				got = append(got, key{c.v.dir, c.fh})
			}
			after = &batch[len(batch)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("batches of %d: got order %v; want %v", size, got, want)
		}
	}
	if x.addWalked(x.volume("Ivol0"), "fh-00", 1, 0) {
		t.Fatalf("addWalked of an indexed key = true; want false")
	}
	if got := x.count.Load(); got != 40 {
		t.Fatalf("count = %d; want 40", got)
	}
}

// A file in a fan-out directory its handle does not hash to is not an
// object any key leads to: the walk leaves it out of the index.
func TestWalkSkipsMisplacedFile(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	u := newUpstream(testGranule, 70)
	readCheck(t, s, fhOf(70), u, 0, testGranule)
	settle(t, s)
	mustNotErr(t, s.Close())
	fh := fhOf(71)
	wrong := "@00"
	if fanoutName(fh) == wrong {
		wrong = "@01"
	}
	d := filepath.Join(dir, "cache", volumeDirName(testVol), wrong)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, handleName(fh)), []byte("stray"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	await.Until(t, "the startup walk", func() bool { return s2.Stats().IndexReady })
	if got := s2.Stats().Objects; got != 1 {
		t.Fatalf("Objects = %d; want 1 (the misplaced file is not one)", got)
	}
}

// While the walk is still indexing the cache nothing is culled, but the
// stop limit is watched: below it nothing new is stored, and above it
// again storing resumes, walk or no walk.
func TestStopLimitDuringWalk(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	readCheck(t, s, fhOf(80), newUpstream(testGranule, 80), 0, testGranule)
	settle(t, s)
	mustNotErr(t, s.Close())

	f := NewFaultFS(nil)
	g := &walkGateFS{FS: f, reached: make(chan struct{}), gate: make(chan struct{})}
	s2 := openTest(t, Options{Dir: dir, FS: g, Readahead: -1, CullInterval: time.Hour})
	await.Recv(t, "the walk's first lstat", g.reached)
	f.SetStatfs(&FSStat{Blocks: 100, BlocksAvail: 2, Files: 100, FilesFree: 50}) // below bstop
	s2.kick(s2.cullKick)
	await.Until(t, "the culler to notice the stop limit during the walk", func() bool { return s2.noStore.Load() })
	u := newUpstream(testGranule, 81)
	readCheck(t, s2, fhOf(81), u, 0, testGranule)
	settle(t, s2)
	if st := s2.Stats(); st.IndexReady || st.Fills != 0 || st.NoSpace == 0 || st.Culls != 0 {
		t.Fatalf("below bstop during the walk: IndexReady, Fills, NoSpace, Culls = %v, %d, %d, %d; want false, 0, > 0, 0",
			st.IndexReady, st.Fills, st.NoSpace, st.Culls)
	}
	f.SetStatfs(nil)
	s2.kick(s2.cullKick)
	await.Until(t, "the culler to notice space again during the walk", func() bool { return !s2.noStore.Load() })
	readCheck(t, s2, fhOf(81), u, 0, testGranule)
	settle(t, s2)
	if st := s2.Stats(); st.IndexReady || st.Fills != 1 {
		t.Fatalf("above bstop during the walk: IndexReady, Fills = %v, %d; want false, 1", st.IndexReady, st.Fills)
	}
	close(g.gate)
	await.Until(t, "the startup walk", func() bool { return s2.Stats().IndexReady })
}

// An object in use that is used again and again keeps moving ahead of
// the point a cull pass resumes from; the pass still ends, culling the
// rest, with ErrCullIncomplete for the one it could not.
func TestCullToEndsWithHotObjectInUse(t *testing.T) {
	clk := newClock()
	s := openTest(t, Options{Readahead: -1, Clock: clk})
	await.Until(t, "the startup walk", func() bool { return s.Stats().IndexReady })
	for i := 0; i < 5; i++ {
		readCheck(t, s, fhOf(90+i), newUpstream(testGranule, byte(90+i)), 0, testGranule)
	}
	settle(t, s)
	o := s.acquire(testVol, fhOf(90), false, Coherency{})
	defer s.release(o)
	scans := 0
	s.scanHook = func() { // a use between every two scans
		scans++
		clk.Advance(time.Millisecond)
		o.touch()
		if scans == 100 {
			t.Errorf("cull pass still scanning after %d scans", scans)
			s.cancel() // ends the pass
		}
	}
	err := s.CullTo(0)
	if scans > 4 {
		t.Fatalf("scans = %d; want at most 4 (2×5/1024 + 2)", scans)
	}
	if !errors.Is(err, ErrCullIncomplete) {
		t.Fatalf("CullTo(0) with a hot object in use: %v; want ErrCullIncomplete", err)
	}
	if st := s.Stats(); st.Culls != 4 || st.Objects != 1 {
		t.Fatalf("Culls, Objects = %d, %d; want 4, 1", st.Culls, st.Objects)
	}
}

// oldest's bounded heap picks the same order a full sort would, over
// many entries with random, often equal, last-use times.
func TestIndexOldestMatchesSort(t *testing.T) {
	var x index
	x.init(newClock())
	r := rand.New(rand.NewPCG(14, 1))
	var all []candidate
	for i := 0; i < 3000; i++ {
		v := x.volume(fmt.Sprintf("Ivol%d", r.IntN(3)))
		fh := fmt.Sprintf("fh-%05d", i)
		t0 := r.Int64N(500)
		x.addWalked(v, fh, 1, t0)
		all = append(all, candidate{v: v, fh: fh, lastUse: t0})
	}
	slices.SortFunc(all, func(a, b candidate) int {
		if a.before(&b) {
			return -1
		}
		return 1
	})
	var got []candidate
	var after *candidate
	for {
		batch := x.oldest(128, after)
		if len(batch) == 0 {
			break
		}
		got = append(got, batch...)
		after = &batch[len(batch)-1]
	}
	if len(got) != len(all) {
		t.Fatalf("got %d candidates; want %d", len(got), len(all))
	}
	for i := range all {
		if got[i].v != all[i].v || got[i].fh != all[i].fh || got[i].lastUse != all[i].lastUse {
			t.Fatalf("candidate %d: got %s/%s@%d; want %s/%s@%d", i,
				got[i].v.dir, got[i].fh, got[i].lastUse, all[i].v.dir, all[i].fh, all[i].lastUse)
		}
	}
}

// readDirRecorder records the limits and result sizes of ReadDir calls
// on one directory.
type readDirRecorder struct {
	FS
	dir string

	// mu guards calls.
	mu    sync.Mutex
	calls [][2]int // max, names returned
}

func (f *readDirRecorder) ReadDir(name string, max int) ([]string, error) {
	names, err := f.FS.ReadDir(name, max)
	if name == f.dir {
		f.mu.Lock()
		f.calls = append(f.calls, [2]int{max, len(names)})
		f.mu.Unlock()
	}
	return names, err
}

// A graveyard of more than one batch left by a restart is emptied, the
// reaper never holding more than reapBatch names.
func TestReaperBatches(t *testing.T) {
	dir := t.TempDir()
	grave := filepath.Join(dir, "graveyard")
	if err := os.MkdirAll(grave, 0o700); err != nil {
		t.Fatal(err)
	}
	const n = 2*reapBatch + 5
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(grave, fmt.Sprintf("dead-%d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := &readDirRecorder{FS: OSFS(), dir: grave}
	s := openTest(t, Options{Dir: dir, FS: r})
	await.Until(t, "the reaper to empty the graveyard", func() bool { return s.Stats().Reaped == n })
	left, err := os.ReadDir(grave)
	if err != nil || len(left) != 0 {
		t.Fatalf("graveyard after reaping: %d entries, %v; want 0, nil", len(left), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) < 3 {
		t.Fatalf("graveyard reads = %d; want >= 3 for %d entries in batches of %d", len(r.calls), n, reapBatch)
	}
	for _, c := range r.calls {
		if c[0] != reapBatch || c[1] > reapBatch {
			t.Fatalf("graveyard read with max %d returned %d names; want max %d, at most that many", c[0], c[1], reapBatch)
		}
	}
}
