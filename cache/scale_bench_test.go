package cache

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Issue 14's scaling aim: RSS ≤ 256 MiB with 1,000,000 cached objects, and
// a restart with such a cache serves its first hit in ≤ 2 s.
//
// BenchmarkScale fills a cache directory with n objects of one 4 KiB
// granule each, written straight to disk in the cache's format (data,
// record xattr; no fdatasync, so a million take a minute, not hours), then
// measures one restart of it:
//
//	first-hit-ms  Open until a hit on an object the walk has not reached is served
//	walk-ms       Open until the startup walk (the cull index) is done
//	index-B/obj   live heap after the walk, per object (after a GC)
//	rss-MiB       the process's RSS after the walk; peak-rss-MiB its VmHWM
//	cull-ms       one cull pass freeing 10% of the bytes (CullTo)
//	cull-hit-max-ms, cull-hits  the slowest of the hits served meanwhile, and how many
//	idle-hit-max-ms  the slowest hit of the same reader for as many reads without a cull
//
// Sizes come from CACHE_SCALE_OBJECTS (default "10000,100000"); the
// directories from CACHE_SCALE_DIR (default a temporary one per run): set
// it to keep a population between runs. Run each size in its own process
// so the peak RSS is its own, e.g.
//
//	CACHE_SCALE_OBJECTS=1000000 CACHE_SCALE_DIR=/tmp/scale nice go test -run '^$' -bench Scale -benchtime 1x ./cache/
//
// The cull pass removes objects: with CACHE_SCALE_DIR, the next run
// refills what it removed.
func BenchmarkScale(b *testing.B) {
	sizes := os.Getenv("CACHE_SCALE_OBJECTS")
	if sizes == "" {
		sizes = "10000,100000"
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("CACHE_SCALE_OBJECTS: bad size %q", f)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			if root := os.Getenv("CACHE_SCALE_DIR"); root != "" {
				dir = filepath.Join(root, strconv.Itoa(n))
			}
			made := populateScale(b, dir, n)
			b.Logf("%d objects on disk in %s (%d written now)", n, dir, made)
			for b.Loop() {
				runScale(b, dir, n)
			}
		})
	}
}

const scaleObject = 4096

// scaleFH is object i's upstream handle: 32 bytes, the size of a Linux
// knfsd handle.
func scaleFH(i int) []byte {
	fh := make([]byte, 32)
	copy(fh, "scale-object----")
	binary.BigEndian.PutUint64(fh[16:], uint64(i))
	binary.BigEndian.PutUint64(fh[24:], uint64(i)*0x9e3779b97f4a7c15)
	return fh
}

func scaleCoh() Coherency {
	return Coherency{FileID: 7, Size: scaleObject, Mtime: Time{Sec: 1, Nsec: 2}, Ctime: Time{Sec: 3, Nsec: 4}}
}

func scaleData(i int) []byte {
	p := make([]byte, scaleObject)
	binary.BigEndian.PutUint64(p, uint64(i))
	return p
}

// populateScale makes sure objects 0..n-1 exist under dir, writing those
// missing in the cache's on-disk format with two workers, and returns how
// many it wrote.
func populateScale(b testing.TB, dir string, n int) int64 {
	b.Helper()
	vdir := filepath.Join(dir, "cache", volumeDirName(testVol))
	for i := 0; i < 256; i++ {
		if err := os.MkdirAll(filepath.Join(vdir, fmt.Sprintf("@%02x", i)), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	// What earlier runs' culls left for the reaper would be reaped during
	// the measurement, competing with it: start with an empty graveyard.
	if err := os.RemoveAll(filepath.Join(dir, "graveyard")); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "graveyard"), 0o700); err != nil {
		b.Fatal(err)
	}
	var made atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fh := scaleFH(i)
				path := filepath.Join(vdir, fanoutName(fh), handleName(fh))
				fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
				if err == unix.EEXIST {
					continue
				}
				if err == nil {
					buf, err = writeScaleObject(fd, i, fh, buf)
					unix.Close(fd)
				}
				if err != nil {
					errc <- fmt.Errorf("populate %s: %w", path, err)
					return
				}
				made.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return made.Load()
}

func writeScaleObject(fd, i int, fh, buf []byte) ([]byte, error) {
	data := scaleData(i)
	if _, err := unix.Pwrite(fd, data, 0); err != nil {
		return buf, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return buf, err
	}
	rec := record{seq: 2, ino: st.Ino, shift: 18, coh: scaleCoh()}
	rec.cmap.set(0, crc32c(data), true)
	buf = rec.appendTo(buf[:0], string(fh))
	return buf, unix.Fsetxattr(fd, recordXattr, buf, 0)
}

// scaleFetcher serves object data; a hit never calls it.
type scaleFetcher struct {
	i     int
	calls *atomic.Int64
}

func (f scaleFetcher) Fetch(ctx context.Context, p []byte, off int64) (int, bool, error) {
	f.calls.Add(1)
	d := scaleData(f.i)
	if off >= int64(len(d)) {
		return 0, true, nil
	}
	n := copy(p, d[off:])
	return n, off+int64(n) >= int64(len(d)), nil
}

func runScale(b *testing.B, dir string, n int) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	ctx, coh := context.Background(), scaleCoh()
	var fetches atomic.Int64
	p := make([]byte, scaleObject)

	start := time.Now()
	s, err := Open(Options{Dir: dir, Readahead: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// The object the walk reaches last is as good a guess as any: the
	// walk's order is the directories'.
	last := n - 1
	if _, err := s.ReadAt(ctx, testVol, scaleFH(last), coh, p, 0, scaleFetcher{last, &fetches}); err != nil {
		b.Fatal(err)
	}
	firstHit := time.Since(start)
	walkedFirst := s.Stats().IndexReady
	if fetches.Load() != 0 || binary.BigEndian.Uint64(p) != uint64(last) {
		b.Fatalf("first read after restart was not a hit (fetches %d)", fetches.Load())
	}
	<-s.idx.readyCh
	walk := time.Since(start)
	st := s.Stats()
	if st.Objects != int64(n) {
		b.Fatalf("Objects = %d after the walk; want %d", st.Objects, n)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perObj := float64(int64(ms.HeapAlloc)-int64(heap0)) / float64(n)
	rss := procStatus("VmRSS")

	// One cull pass freeing 10%, with a reader serving random objects
	// meanwhile (hits, and misses for what was culled): how long the
	// slowest waited, against the same reader without a cull,
	// says whether culling stalls serving. The baseline makes as many reads
	// as the reader made during the cull, so both tails have as many samples.
	target := st.BytesUsed - st.BytesUsed/10
	var cull time.Duration
	lat, misses := serveDuring(b, s, n, 0, func() {
		cullStart := time.Now()
		if err := s.CullTo(target); err != nil {
			b.Error(err)
		}
		cull = time.Since(cullStart)
	})
	culled := s.Stats().Culls
	idle, _ := serveDuring(b, s, n, max(len(lat)+misses, 1), nil)
	maxLat, p99 := tail(lat)
	idleMax, idleP99 := tail(idle)

	ms2 := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms2(firstHit), "first-hit-ms")
	b.ReportMetric(ms2(walk), "walk-ms")
	b.ReportMetric(perObj, "index-B/obj")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(procStatus("VmHWM"))/(1<<20), "peak-rss-MiB")
	b.ReportMetric(ms2(cull), "cull-ms")
	b.ReportMetric(float64(culled), "culled")
	b.ReportMetric(ms2(maxLat), "cull-hit-max-ms")
	b.ReportMetric(ms2(p99), "cull-hit-p99-ms")
	b.ReportMetric(float64(len(lat)), "cull-hits")
	b.ReportMetric(float64(misses), "cull-misses")
	b.ReportMetric(ms2(idleMax), "idle-hit-max-ms")
	b.ReportMetric(ms2(idleP99), "idle-hit-p99-ms")
	b.Logf("n=%d first hit %v (walk done before it: %v), walk %v, index %.0f B/object, RSS %d MiB, cull of %d objects %v, %d hits (and %d misses) meanwhile, slowest hit %v, p99 %v; without a cull slowest %v, p99 %v",
		n, firstHit, walkedFirst, walk, perObj, rss>>20, culled, cull, len(lat), misses, maxLat, p99, idleMax, idleP99)
}

// serveDuring reads random objects of the n while f runs (with f nil:
// until it has made limit reads; limit 0: no limit) and returns the
// latency of each hit, sorted, and how many reads were misses (objects
// culled: creating them again is disk metadata work, timed by the
// filesystem's journal rather than by the cache).
func serveDuring(b *testing.B, s *Store, n, limit int, f func()) (lat []time.Duration, misses int) {
	ctx, coh := context.Background(), scaleCoh()
	var fetches atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(uint64(n), 1))
		q := make([]byte, scaleObject)
		for reads := 0; limit == 0 || reads < limit; reads++ {
			select {
			case <-stop:
				return
			default:
			}
			i := r.IntN(n)
			t := time.Now()
			before := fetches.Load()
			if _, err := s.ReadAt(ctx, testVol, scaleFH(i), coh, q, 0, scaleFetcher{i, &fetches}); err != nil {
				b.Error(err)
				return
			}
			if fetches.Load() == before {
				lat = append(lat, time.Since(t))
			} else {
				misses++
			}
		}
	}()
	if f != nil {
		f()
		close(stop)
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, misses
}

// tail returns the largest and the 99th percentile of sorted latencies.
func tail(lat []time.Duration) (max, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	return lat[len(lat)-1], lat[len(lat)*99/100]
}

// procStatus reads a kB field of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
