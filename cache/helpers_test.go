package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

var testVol = VolumeKey{Server: "srv", Export: "/export", ID: 1}

const testGranule = 4096

// upstream is a fake NFS file with a counting Fetcher.
type upstream struct {
	calls atomic.Int64

	// mu guards the fields below.
	mu    sync.Mutex
	data  []byte
	ver   uint32
	gate  chan struct{} // when non-nil, fetches wait for it to close
	err   error
	byOff map[int64]int
}

func newUpstream(size int, seed byte) *upstream {
	return &upstream{data: pattern(size, seed), ver: 1, byOff: make(map[int64]int)}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/4096) ^ seed
	}
	return b
}

func (u *upstream) coh() Coherency {
	u.mu.Lock()
	defer u.mu.Unlock()
	return Coherency{FileID: 42, Size: uint64(len(u.data)), Mtime: Time{Sec: u.ver, Nsec: 1}, Ctime: Time{Sec: u.ver, Nsec: 2}}
}

// set replaces the contents and bumps the version.
func (u *upstream) set(data []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data = data
	u.ver++
}

func (u *upstream) bytes() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]byte(nil), u.data...)
}

// fetch answers with the contents as they are when it is called, like a
// server replying at once over a slow link (the gate).
func (u *upstream) fetch(ctx context.Context, p []byte, off int64) (int, bool, error) {
	u.calls.Add(1)
	u.mu.Lock()
	gate, err := u.gate, u.err
	u.byOff[off]++
	n := 0
	if off < int64(len(u.data)) {
		n = copy(p, u.data[off:])
	}
	eof := off+int64(n) >= int64(len(u.data))
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
	if err != nil {
		return 0, false, err
	}
	return n, eof, nil
}

func (u *upstream) fetchesAt(off int64) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byOff[off]
}

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.GranuleSize == 0 {
		opts.GranuleSize = testGranule
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readAll reads [off, off+n) through the store and checks the bytes
// against the upstream's current contents.
func readCheck(t testing.TB, s *Store, fh []byte, u *upstream, off int64, n int) {
	t.Helper()
	p := make([]byte, n)
	got, err := s.ReadAt(context.Background(), testVol, fh, u.coh(), p, off, FetcherFunc(u.fetch))
	if err != nil {
		t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
	}
	want := u.bytes()
	start := min(off, int64(len(want)))
	end := min(off+int64(n), int64(len(want)))
	want = want[start:end]
	if got != len(want) {
		t.Fatalf("ReadAt(%d, %d) = %d bytes; want %d", off, n, got, len(want))
	}
	if !bytes.Equal(p[:got], want) {
		t.Fatalf("ReadAt(%d, %d): bytes differ from upstream", off, n)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClock returns a fake clock at the real time now, so last-use times
// written back as atimes stay plausible for the kernel's relatime.
func newClock() *clockwork.FakeClock { return clockwork.NewFakeClockAt(time.Now()) }

// objectCoh returns the version the open object (testVol, fh) records.
func objectCoh(s *Store, fh []byte) (Coherency, bool) {
	s.mu.Lock()
	var o *object
	if v := s.byKey[testVol]; v != nil {
		o = v.objs[string(fh)]
	}
	if o != nil && o.busy != nil {
		o = nil
	}
	s.mu.Unlock()
	if o == nil {
		return Coherency{}, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rec.coh, true
}

// present reports whether granule g of (testVol, fh) is in the map.
func present(s *Store, fh []byte, g int64) bool {
	s.mu.Lock()
	v := s.byKey[testVol]
	var o *object
	if v != nil {
		o = v.objs[string(fh)]
	}
	if o != nil && o.busy != nil {
		o = nil
	}
	s.mu.Unlock()
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rec.cmap.has(g)
}

// settle waits until no flight, store or record write is pending, so
// what a test inspects on disk is final.
func settle(t testing.TB, s *Store) {
	t.Helper()
	await.Until(t, "background stores and record writes", func() bool {
		signal(s.flush.hurry) // records now, not after the flush window
		if len(s.storeSem) > 0 || len(s.raSem) > 0 {
			return false
		}
		s.flush.mu.Lock()
		n, busy := len(s.flush.items), s.flush.busy
		s.flush.mu.Unlock()
		if n > 0 || busy {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, v := range s.byDir {
			for _, o := range v.objs {
				o.mu.Lock()
				busy := len(o.flights) > 0 || o.queued
				o.mu.Unlock()
				if busy {
					return false
				}
			}
		}
		return true
	})
}

func fhOf(i int) []byte { return []byte(fmt.Sprintf("handle-%04d", i)) }

func mustNotErr(t testing.TB, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
