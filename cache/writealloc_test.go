package cache

import "testing"

// TestWroteAtAllocatesEmptyFile: writes to a file that was empty before
// (a new file being written through the proxy) are cached without a
// fetch; a write to an uncached file with content allocates nothing
// (TestWroteAtUncachedDoesNothing).
func TestWroteAtAllocatesEmptyFile(t *testing.T) {
	s := openTest(t, Options{Readahead: -1})
	u := newUpstream(0, 55)
	fh := fhOf(55)
	wrote(s, u, fh, pattern(2*testGranule+100, 0xAB), 0)
	wrote(s, u, fh, pattern(testGranule, 0xCD), 2*testGranule+100)
	before := u.calls.Load()
	readCheck(t, s, fh, u, 0, len(u.bytes()))
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches after writing an empty file = %d; want 0", got)
	}
	if st := s.Stats(); st.Writes != 2 || st.Invalidations != 0 {
		t.Fatalf("Writes, Invalidations = %d, %d; want 2, 0", st.Writes, st.Invalidations)
	}
}
