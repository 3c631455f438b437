package cache

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func objectPath(dir string, fh []byte) string {
	return filepath.Join(dir, "cache", volumeDirName(testVol), fanoutName(fh), handleName(fh))
}

func TestFaultsDegradeToPassThrough(t *testing.T) {
	type counter func(Stats) uint64
	ioErrors := func(st Stats) uint64 { return st.IOErrors }
	noSpace := func(st Stats) uint64 { return st.NoSpace }
	tests := []struct {
		name    string
		warm    bool // inject after the object is cached
		inject  func(f *FaultFS)
		counter counter
		what    string
	}{
		{"EIO writing a granule", false, func(f *FaultFS) { f.FailNth(OpWrite, 1, syscall.EIO) }, ioErrors, "IOErrors"},
		{"ENOSPC writing a granule", false, func(f *FaultFS) { f.FailNth(OpWrite, 1, syscall.ENOSPC) }, noSpace, "NoSpace"},
		{"EIO on fdatasync", false, func(f *FaultFS) { f.FailNth(OpSync, 1, syscall.EIO) }, ioErrors, "IOErrors"},
		{"EIO creating the object", false, func(f *FaultFS) { f.FailNth(OpCreateTemp, 1, syscall.EIO) }, ioErrors, "IOErrors"},
		{"EIO on every write", false, func(f *FaultFS) { f.FailAll(OpWrite, syscall.EIO) }, ioErrors, "IOErrors"},
		{"EIO reading a cached granule", true, func(f *FaultFS) { f.FailNth(OpRead, 1, syscall.EIO) }, ioErrors, "IOErrors"},
		{"EIO on every read", true, func(f *FaultFS) { f.FailAll(OpRead, syscall.EIO) }, ioErrors, "IOErrors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFaultFS(nil)
			s := openTest(t, Options{FS: f, Readahead: -1})
			u := newUpstream(3*testGranule, 20)
			fh := fhOf(20)
			if tc.warm {
				readCheck(t, s, fh, u, 0, 3*testGranule)
				settle(t, s)
			}
			before := tc.counter(s.Stats())
			tc.inject(f)
			readCheck(t, s, fh, u, 0, 3*testGranule)
			readCheck(t, s, fh, u, 100, 2*testGranule)
			settle(t, s)
			if got := tc.counter(s.Stats()); got <= before {
				t.Fatalf("%s = %d; want > %d", tc.what, got, before)
			}
			f.Heal()
			readCheck(t, s, fh, u, 0, 3*testGranule)
		})
	}
}

// A failed fdatasync drops the granules it should have made durable
// (Linux reports a writeback error once, so the next sync would lie):
// they are fetched again rather than claimed by a record.
func TestSyncFailureDropsUnsyncedGranules(t *testing.T) {
	f := NewFaultFS(nil)
	s := openTest(t, Options{FS: f, Readahead: -1})
	u := newUpstream(3*testGranule, 22)
	fh := fhOf(22)
	f.FailAll(OpSync, syscall.EIO)
	readCheck(t, s, fh, u, 0, 3*testGranule) // served at once, sync or not
	settle(t, s)
	f.Heal()
	for g := int64(0); g < 3; g++ {
		if present(s, fh, g) {
			t.Fatalf("granule %d present after its sync failed", g)
		}
	}
	if got := s.Stats().IOErrors; got == 0 {
		t.Fatal("IOErrors = 0; want the failed sync counted")
	}
	before := u.calls.Load()
	readCheck(t, s, fh, u, 0, 3*testGranule)
	settle(t, s)
	if got := u.calls.Load() - before; got != 3 {
		t.Fatalf("fetches after the failed sync = %d; want 3", got)
	}
	for g := int64(0); g < 3; g++ {
		if !present(s, fh, g) {
			t.Fatalf("granule %d missing after a good sync", g)
		}
	}
}

func TestXattrNoSpaceFallsBackToSidecar(t *testing.T) {
	dir := t.TempDir()
	f := NewFaultFS(nil)
	s := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
	u := newUpstream(2*testGranule, 21)
	fh := fhOf(21)
	readCheck(t, s, fh, u, 0, testGranule) // object created with an xattr record
	settle(t, s)
	f.FailAll(OpSetXattr, syscall.ENOSPC)
	readCheck(t, s, fh, u, testGranule, testGranule)
	mustNotErr(t, s.Close())
	if _, err := os.Stat(objectPath(dir, fh) + sidecarSuffix); err != nil {
		t.Fatalf("sidecar after xattr ENOSPC: %v", err)
	}
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 2*testGranule)
	if got := u.calls.Load() - before; got != 0 {
		t.Fatalf("fetches after reopen = %d; want 0 (newer sidecar record wins)", got)
	}
}

func TestCorruptGranuleOnDisk(t *testing.T) {
	const G = testGranule
	tests := []struct {
		name         string
		damage       func(t *testing.T, path string)
		wantFailures uint64
	}{
		{"flipped byte", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[2*G+17] ^= 0x40
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"truncated file", func(t *testing.T, path string) {
			if err := os.Truncate(path, 2*G+G/2); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"hole punched", func(t *testing.T, path string) {
			fd, err := unix.Open(path, unix.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, G, G); err != nil {
				t.Skipf("punch hole: %v", err)
			}
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			u := newUpstream(4*G, 22)
			fh := fhOf(22)
			s := openTest(t, Options{Dir: dir, Readahead: -1})
			readCheck(t, s, fh, u, 0, 4*G)
			mustNotErr(t, s.Close())
			tc.damage(t, objectPath(dir, fh))
			s2 := openTest(t, Options{Dir: dir, Readahead: -1})
			before := u.calls.Load()
			readCheck(t, s2, fh, u, 0, 4*G)
			if got := s2.Stats().ChecksumFailures; got != tc.wantFailures {
				t.Fatalf("ChecksumFailures = %d; want %d", got, tc.wantFailures)
			}
			if got := u.calls.Load() - before; got != int64(tc.wantFailures) {
				t.Fatalf("fetches = %d; want %d (only the bad granules)", got, tc.wantFailures)
			}
			settle(t, s2)
			before = u.calls.Load()
			readCheck(t, s2, fh, u, 0, 4*G)
			if got := u.calls.Load() - before; got != 0 {
				t.Fatalf("fetches after refetch = %d; want 0", got)
			}
		})
	}
}

// TestCorruptionWhileOpenIsCaught: bytes of a granule changed behind the
// store's back while it runs are caught by a Paranoid store on the next
// read, and by a default one on the first read after the store is opened
// again (a default store checks a granule once per open, then trusts
// it: the one it wrote or checked is what its CRC covers).
func TestCorruptionWhileOpenIsCaught(t *testing.T) {
	for _, paranoid := range []bool{true, false} {
		t.Run(fmt.Sprintf("paranoid=%v", paranoid), func(t *testing.T) {
			dir := t.TempDir()
			u := newUpstream(2*testGranule, 23)
			fh := fhOf(23)
			s := openTest(t, Options{Dir: dir, Readahead: -1, Paranoid: paranoid})
			readCheck(t, s, fh, u, 0, 2*testGranule)
			settle(t, s)
			f, err := os.OpenFile(objectPath(dir, fh), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{0xff, 0xfe}, testGranule+5)
			f.Close()
			if !paranoid {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openTest(t, Options{Dir: dir, Readahead: -1})
			}
			readCheck(t, s, fh, u, testGranule, testGranule)
			if got := s.Stats().ChecksumFailures; got != 1 {
				t.Fatalf("ChecksumFailures = %d; want 1", got)
			}
		})
	}
}

// setRecord rewrites the xattr record of path with mutate applied,
// fixing up the record CRC unless keepCRC.
func setRecord(t *testing.T, path string, mutate func(b []byte) []byte, keepCRC bool) {
	t.Helper()
	b := make([]byte, 8192)
	n, err := unix.Getxattr(path, recordXattr, b)
	if err != nil {
		t.Fatal(err)
	}
	b = mutate(b[:n])
	if !keepCRC && len(b) >= 4 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32c(b[:len(b)-4]))
	}
	if err := unix.Setxattr(path, recordXattr, b, 0); err != nil {
		t.Fatal(err)
	}
}

func TestUnusableRecordIsAMiss(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		keepCRC bool
	}{
		{"wrong version", func(b []byte) []byte { b[4] = recordVersion + 1; return b }, false},
		{"bad CRC", func(b []byte) []byte { b[30] ^= 1; return b }, true},
		{"truncated", func(b []byte) []byte { return b[:20] }, true},
		{"other inode", func(b []byte) []byte { b[16]++; return b }, false},
		{"other handle", func(b []byte) []byte { b[recordHeader]++; return b }, false},
		{"map beyond size", func(b []byte) []byte { b[32] = 1; b[33], b[34], b[35] = 0, 0, 0; return b }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			u := newUpstream(3*testGranule, 24)
			fh := fhOf(24)
			s := openTest(t, Options{Dir: dir, Readahead: -1})
			readCheck(t, s, fh, u, 0, 3*testGranule)
			mustNotErr(t, s.Close())
			setRecord(t, objectPath(dir, fh), tc.mutate, tc.keepCRC)
			s2 := openTest(t, Options{Dir: dir, Readahead: -1})
			before := u.calls.Load()
			readCheck(t, s2, fh, u, 0, 3*testGranule)
			if got := u.calls.Load() - before; got != 3 {
				t.Fatalf("fetches = %d; want 3 (record ignored)", got)
			}
		})
	}
}

func TestMissingRecordIsAMiss(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(2*testGranule, 25)
	fh := fhOf(25)
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	readCheck(t, s, fh, u, 0, 2*testGranule)
	mustNotErr(t, s.Close())
	if err := unix.Removexattr(objectPath(dir, fh), recordXattr); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 2*testGranule)
	if got := u.calls.Load() - before; got != 2 {
		t.Fatalf("fetches = %d; want 2", got)
	}
}

func TestRecordReadErrorAtOpen(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(2*testGranule, 26)
	fh := fhOf(26)
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	readCheck(t, s, fh, u, 0, 2*testGranule)
	mustNotErr(t, s.Close())
	f := NewFaultFS(nil)
	f.FailAll(OpGetXattr, syscall.EIO)
	s2 := openTest(t, Options{Dir: dir, FS: f, Readahead: -1})
	readCheck(t, s2, fh, u, 0, 2*testGranule)
	if got := s2.Stats().IOErrors; got == 0 {
		t.Fatalf("IOErrors = %d; want > 0", got)
	}
}
