package cache

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// testChanged is a Fetcher's word that the file changed under a fetch,
// as coherency.Changed says it in the proxy.
type testChanged struct{ to Coherency }

func (c *testChanged) Error() string        { return "file changed under a fetch" }
func (c *testChanged) ChangedTo() Coherency { return c.to }

var _ Changed = (*testChanged)(nil)

// versioned is u's Fetcher that, like the proxy's (coherency.Fetcher),
// returns the bytes with a Changed error when they are not of version want.
func (u *upstream) versioned(want Coherency) Fetcher {
	return FetcherFunc(func(ctx context.Context, p []byte, off int64) (int, bool, error) {
		n, eof, err := u.fetch(ctx, p, off)
		if now := u.coh(); err == nil && now != want {
			return n, eof, &testChanged{now}
		}
		return n, eof, err
	})
}

// TestChangeUnderFetchServedNotStored: a miss whose fetch finds the file
// changed serves that fetch's bytes (the new version's) to every reader
// of its flight, with the Changed error naming the new version, after one
// fetch; nothing is stored under the old version, and the new version
// fills as usual.
func TestChangeUnderFetchServedNotStored(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(4*testGranule, 1)
	fh := fhOf(21)
	v1 := u.coh()
	u.set(pattern(4*testGranule, 2))
	v2, want := u.coh(), u.bytes()[:testGranule]
	gate := make(chan struct{})
	u.mu.Lock()
	u.gate = gate
	u.mu.Unlock()

	type result struct {
		n, fromUp int
		err       error
		p         []byte
	}
	results := make(chan result, 2)
	read := func() {
		p := make([]byte, testGranule)
		n, fromUp, err := s.ReadAtFrom(context.Background(), testVol, fh, v1, p, 0, u.versioned(v1))
		results <- result{n, fromUp, err, p}
	}
	go read()
	await.Until(t, "the first reader's fetch", func() bool { return u.calls.Load() == 1 })
	go read()
	await.Until(t, "the second reader to join the fetch", func() bool { return s.Stats().FlightJoins == 1 })
	close(gate)
	for i := 0; i < 2; i++ {
		r := await.Recv(t, "a reader's result", results)
		var ch Changed
		if !errors.As(r.err, &ch) || ch.ChangedTo() != v2 {
			t.Fatalf("reader %d: err %v; want a Changed naming %+v", i, r.err, v2)
		}
		if r.n != testGranule || r.fromUp != testGranule || !bytes.Equal(r.p, want) {
			t.Fatalf("reader %d: %d bytes (%d from upstream), new version's: %v; want %d of the new version's, all from upstream",
				i, r.n, r.fromUp, bytes.Equal(r.p, want), testGranule)
		}
	}
	if n := u.calls.Load(); n != 1 {
		t.Fatalf("%d fetches; want 1 for both readers", n)
	}
	if st := s.Stats(); st.Fills != 0 || st.ChangedFetches != 1 {
		t.Fatalf("fills %d, changed fetches %d; want 0 and 1", st.Fills, st.ChangedFetches)
	}

	// Nothing was stored under v1: a read at v1 misses and fetches.
	u.mu.Lock()
	u.gate, u.err = nil, errors.New("upstream down")
	u.mu.Unlock()
	if n, err := s.ReadAt(context.Background(), testVol, fh, v1, make([]byte, testGranule), 0, u.versioned(v1)); err == nil {
		t.Fatalf("read at the old version after the change: %d bytes served from the cache; want a miss", n)
	}
	u.mu.Lock()
	u.err = nil
	u.mu.Unlock()
	readCheck(t, s, fh, u, 0, testGranule)
	await.Until(t, "the new version's granule to be stored", func() bool { return s.Stats().Fills == 1 })
}

// TestChangeAfterCachedPrefixEndsShort: a read whose first granule is
// cached at the version asked for and whose next granule's fetch finds the
// file changed answers with the first granule only, without error: one
// reply never mixes two versions.
func TestChangeAfterCachedPrefixEndsShort(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(4*testGranule, 1)
	fh := fhOf(22)
	v1, old := u.coh(), u.bytes()
	readCheck(t, s, fh, u, 0, testGranule)
	await.Until(t, "granule 0 to be stored", func() bool { return s.Stats().Fills == 1 })
	u.set(pattern(4*testGranule, 3))
	calls := u.calls.Load()
	p := make([]byte, 2*testGranule)
	n, err := s.ReadAt(context.Background(), testVol, fh, v1, p, 0, u.versioned(v1))
	if err != nil || n != testGranule || !bytes.Equal(p[:n], old[:testGranule]) {
		t.Fatalf("read across the change: %d bytes, %v, old version's: %v; want %d bytes of the old version, no error",
			n, err, bytes.Equal(p[:n], old[:testGranule]), testGranule)
	}
	if got := u.calls.Load() - calls; got != 1 {
		t.Fatalf("%d fetches; want 1 (granule 1)", got)
	}
	if st := s.Stats(); st.Fills != 1 {
		t.Fatalf("fills %d; want 1 (the new version's bytes stored nowhere)", st.Fills)
	}
}
