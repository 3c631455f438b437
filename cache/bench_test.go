package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// benchStore opens a store with default granules and one object of size
// bytes, fully cached.
func benchStore(b *testing.B, size int, opts Options) (*Store, *upstream, []byte) {
	b.Helper()
	opts.Dir = b.TempDir()
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	u := newUpstream(size, 1)
	fh := []byte("benchmark-handle-0001")
	p := make([]byte, size)
	if _, err := s.ReadAt(context.Background(), testVol, fh, u.coh(), p, 0, FetcherFunc(u.fetch)); err != nil {
		b.Fatal(err)
	}
	settle(b, s)
	return s, u, fh
}

func BenchmarkReadHit1MiB(b *testing.B) {
	const size = 8 << 20
	s, u, fh := benchStore(b, size, Options{})
	ctx, coh, fetch := context.Background(), u.coh(), FetcherFunc(u.fetch)
	p := make([]byte, 1<<20)
	calls := u.calls.Load()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.ReadAt(ctx, testVol, fh, coh, p, int64(i%8)<<20, fetch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if u.calls.Load() != calls {
		b.Fatal("hit benchmark fetched")
	}
}

func BenchmarkReadHit4KiBRandom(b *testing.B) {
	for _, paranoid := range []bool{false, true} {
		name := "checked-once"
		if paranoid {
			name = "paranoid"
		}
		b.Run(name, func(b *testing.B) {
			const size = 64 << 20
			s, u, fh := benchStore(b, size, Options{Paranoid: paranoid, Readahead: -1})
			ctx, coh, fetch := context.Background(), u.coh(), FetcherFunc(u.fetch)
			offs := make([]int64, 4096)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range offs {
				offs[i] = r.Int64N(size/4096) * 4096
			}
			p := make([]byte, 4096)
			b.SetBytes(4096)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.ReadAt(ctx, testVol, fh, coh, p, offs[i%len(offs)], fetch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadMiss1MiB reads 1 MiB of a new object each time from an
// in-memory upstream: create, fetch, store (its sync follows in the
// background, with the record).
func BenchmarkReadMiss1MiB(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(Options{Dir: dir, Readahead: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := newUpstream(1<<20, 3)
	ctx, coh, fetch := context.Background(), u.coh(), FetcherFunc(u.fetch)
	p := make([]byte, 1<<20)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.ReadAt(ctx, testVol, fhOf(i), coh, p, 0, fetch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen100kObjects measures startup with 100,000 objects on disk:
// Open itself, and the background walk until the cull index is ready.
func BenchmarkOpen100kObjects(b *testing.B) {
	const objects = 100_000
	dir := b.TempDir()
	vdir := filepath.Join(dir, "cache", volumeDirName(testVol))
	made := map[string]bool{}
	for i := 0; i < objects; i++ {
		fh := fhOf(i)
		d := filepath.Join(vdir, fanoutName(fh))
		if !made[d] {
			os.MkdirAll(d, 0o700)
			made[d] = true
		}
		f, err := os.OpenFile(filepath.Join(d, handleName(fh)), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	var openTime, walkTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		s, err := Open(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		openTime += time.Since(start)
		<-s.idx.readyCh
		walkTime += time.Since(start)
		if got := s.Stats().Objects; got != objects {
			b.Fatalf("Objects = %d; want %d", got, objects)
		}
		s.Close()
	}
	b.ReportMetric(float64(openTime.Microseconds())/float64(b.N), "open-µs")
	b.ReportMetric(float64(walkTime.Milliseconds())/float64(b.N), "index-ms")
}

// BenchmarkServe100kObjects fills a cache with 100,000 objects of 4 KiB,
// reopens it and serves one read of every object, reporting the process's
// peak RSS (VmHWM) as it ends: the aim is under 256 MiB while serving such
// a cache. Set-up makes 100,000 fdatasyncs: run it alone, with -benchtime 1x.
func BenchmarkServe100kObjects(b *testing.B) {
	const objects = 100_000
	dir := b.TempDir()
	u := newUpstream(4096, 1)
	coh := u.coh()
	p := make([]byte, 4096)
	s, err := Open(Options{Dir: dir, Readahead: -1})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < objects; i++ {
		if _, err := s.ReadAt(context.Background(), testVol, fhOf(i), coh, p, 0, FetcherFunc(u.fetch)); err != nil {
			b.Fatal(err)
		}
	}
	// Stores finish in the background; 100,000 fdatasyncs take minutes.
	await.Within(b, 10*time.Minute, fmt.Sprintf("%d objects stored", objects), func() bool {
		return s.Stats().Fills >= objects
	})
	s.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(Options{Dir: dir, Readahead: -1})
		if err != nil {
			b.Fatal(err)
		}
		before := u.calls.Load()
		for i := 0; i < objects; i++ {
			if _, err := s.ReadAt(context.Background(), testVol, fhOf(i), coh, p, 0, FetcherFunc(u.fetch)); err != nil {
				b.Fatal(err)
			}
		}
		if n := u.calls.Load() - before; n != 0 {
			b.Fatalf("%d fetches while serving a full cache; want 0", n)
		}
		s.Close()
	}
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkReadMiss4KiBSlowUpstream reads 4 KiB from the middle of a
// missing granule of a new object, from an upstream that answers after
// 1 ms plus 5 ns a byte (200 MB/s): what a random miss costs the reader,
// whole-granule fetch or not.
func BenchmarkReadMiss4KiBSlowUpstream(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Readahead: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := newUpstream(1<<20, 4)
	fetch := FetcherFunc(func(ctx context.Context, p []byte, off int64) (int, bool, error) {
		if err := upstreamDelay(ctx, time.Millisecond+time.Duration(len(p))*5); err != nil {
			return 0, false, err
		}
		return u.fetch(ctx, p, off)
	})
	ctx, coh := context.Background(), u.coh()
	p := make([]byte, 4096)
	b.SetBytes(4096)
	for i := 0; b.Loop(); i++ {
		if _, err := s.ReadAt(ctx, testVol, fhOf(i), coh, p, 64<<10, fetch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadColdSequentialSlowUpstream: four readers share one
// sequential stream of 1 MiB reads (as the bench client's seqread does)
// of a new 64 MiB object each iteration, from an upstream that answers
// every fetch after a 10 ms round trip, whatever its size. Reading the
// upstream directly the same way would take 16 round trips (4 MiB in
// flight), 160 ms; faster than that means readahead beats the client.
func BenchmarkReadColdSequentialSlowUpstream(b *testing.B) {
	for _, ra := range []int{16, 64} {
		b.Run(fmt.Sprintf("readahead-%d", ra), func(b *testing.B) {
			const size, bs, readers = 64 << 20, 1 << 20, 4
			s, err := Open(Options{Dir: b.TempDir(), Readahead: ra})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			u := newUpstream(size, 5)
			fetch := FetcherFunc(func(ctx context.Context, p []byte, off int64) (int, bool, error) {
				if err := upstreamDelay(ctx, 10*time.Millisecond); err != nil {
					return 0, false, err
				}
				return u.fetch(ctx, p, off)
			})
			ctx, coh := context.Background(), u.coh()
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				var next atomic.Int64
				var wg sync.WaitGroup
				for range readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p := make([]byte, bs)
						for {
							off := next.Add(bs) - bs
							if off >= size {
								return
							}
							if _, err := s.ReadAt(ctx, testVol, fhOf(1000+i), coh, p, off, fetch); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
		})
	}
}

// upstreamDelay is the emulated upstream's answer time in the slow-upstream
// benchmarks: the delay is the behaviour measured, not synchronisation, and
// like a real upstream call it ends early when ctx is cancelled (a
// readahead or background fetch the store abandons).
func upstreamDelay(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
