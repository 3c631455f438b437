package cache

import (
	"syscall"
	"testing"
)

// Each test crashes a store on a FaultFS (unsynced writes undone,
// xattrs kept), abandons it, and reopens the directory on the real
// filesystem: whatever survived, every byte served must be right.

func TestCrashMidFill(t *testing.T) {
	// Granules are stored without waiting for a sync; the flusher syncs
	// the file before each record. Reading one granule at a time and
	// settling makes the nth sync the nth granule's, so each crash point
	// is reached.
	for _, at := range []int{1, 2, 3, 5, 6} {
		t.Run("at sync "+string(rune('0'+at)), func(t *testing.T) {
			dir := t.TempDir()
			u := newUpstream(6*testGranule, 30)
			fh := fhOf(30)
			f := NewFaultFS(nil)
			s := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
			f.CrashAtNth(OpSync, at)
			for g := int64(0); g < 6; g++ {
				readCheck(t, s, fh, u, g*testGranule, testGranule)
				settle(t, s)
			}
			if got := f.Count(OpSync); got != at {
				t.Fatalf("syncs = %d; want the crash at sync %d", got, at)
			}
			s.Close()
			s2 := openTest(t, Options{Dir: dir, Readahead: -1})
			readCheck(t, s2, fh, u, 0, 6*testGranule)
			settle(t, s2)
			before := u.calls.Load()
			readCheck(t, s2, fh, u, 0, 6*testGranule)
			if got := u.calls.Load() - before; got != 0 {
				t.Fatalf("fetches after recovery = %d; want 0", got)
			}
		})
	}
}

// A crash before the flusher synced anything: granules served from
// memory and the page cache were never claimed by a durable record, or
// are caught by their checksums.
func TestCrashBeforeFlush(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(6*testGranule, 34)
	fh := fhOf(34)
	f := NewFaultFS(nil)
	f.FailAll(OpSync, syscall.EIO) // nothing becomes durable
	s := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
	readCheck(t, s, fh, u, 0, 6*testGranule)
	settle(t, s)
	f.Crash()
	s.Close()
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 6*testGranule)
	if got := u.calls.Load() - before; got != 6 {
		t.Fatalf("fetches after recovery = %d; want 6", got)
	}
}

// A disk that acknowledges fdatasync without doing it lets the record
// claim granules whose bytes are lost in the crash: the checksums catch
// every one.
func TestCrashAfterLyingSync(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(6*testGranule, 31)
	fh := fhOf(31)
	f := NewFaultFS(nil)
	f.LieAboutSync(true)
	s := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
	readCheck(t, s, fh, u, 0, 6*testGranule)
	settle(t, s) // records claiming all six granules are written
	f.Crash()
	s.Close()
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 6*testGranule)
	if got := u.calls.Load() - before; got != 6 {
		t.Fatalf("fetches = %d; want 6", got)
	}
	if got := s2.Stats().ChecksumFailures; got != 6 {
		t.Fatalf("ChecksumFailures = %d; want 6", got)
	}
}

// Records that never got written (the process died, or every record
// write failed) only under-report: granules stored after the last
// record written are fetched again, the rest are reused.
func TestRecordNeverWritten(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(6*testGranule, 32)
	fh := fhOf(32)
	f := NewFaultFS(nil)
	s := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
	readCheck(t, s, fh, u, 0, 3*testGranule)
	settle(t, s)
	f.FailAll(OpSetXattr, syscall.EIO)
	f.FailAll(OpOpen, syscall.EIO) // no sidecar either
	readCheck(t, s, fh, u, 3*testGranule, 3*testGranule)
	settle(t, s)
	f.Crash()
	s.Close()
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 6*testGranule)
	if got := u.calls.Load() - before; got != 3 {
		t.Fatalf("fetches = %d; want 3 (granules 3..5 unrecorded)", got)
	}
}

// A crash in the middle of an invalidation leaves either the old object
// (whose record does not match the new version) or the new empty one.
func TestCrashDuringInvalidation(t *testing.T) {
	for _, op := range []Op{OpLink, OpExchange, OpRename} {
		t.Run([]string{OpLink: "link", OpExchange: "exchange", OpRename: "rename"}[op], func(t *testing.T) {
			dir := t.TempDir()
			u := newUpstream(3*testGranule, 33)
			fh := fhOf(33)
			f := NewFaultFS(nil)
			s := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
			readCheck(t, s, fh, u, 0, 3*testGranule)
			settle(t, s)
			u.set(pattern(3*testGranule, 133))
			f.CrashAtNth(op, 1)
			readCheck(t, s, fh, u, 0, 3*testGranule)
			s.Close()
			s2 := openTest(t, Options{Dir: dir, Readahead: -1})
			readCheck(t, s2, fh, u, 0, 3*testGranule)
		})
	}
}
