package cache

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

func TestCheckFindsAndRepairs(t *testing.T) {
	dir := t.TempDir()
	u := newUpstream(4*testGranule, 60)
	fh := fhOf(60)
	u2 := newUpstream(testGranule, 61)
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	readCheck(t, s, fh, u, 0, 4*testGranule)
	readCheck(t, s, fhOf(61), u2, 0, testGranule)
	mustNotErr(t, s.Close())

	path := objectPath(dir, fh)
	b, _ := os.ReadFile(path)
	b[testGranule+1] ^= 1
	os.WriteFile(path, b, 0o600)
	os.WriteFile(path+swapSuffix, []byte("leftover"), 0o600)
	setRecord(t, objectPath(dir, fhOf(61)), func(b []byte) []byte { b[30] ^= 1; return b }, true)

	rep, err := Check(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := CheckReport{Objects: 2, Granules: 3, Bytes: 3 * testGranule, BadRecords: 1, BadGranules: 1, Leftovers: 1}
	got := rep
	got.Problems = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Check = %+v; want %+v", got, want)
	}
	if len(rep.Problems) != 3 {
		t.Fatalf("Problems = %v; want 3 entries", rep.Problems)
	}

	rep, err = Check(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repaired != 3 {
		t.Fatalf("Repaired = %d; want 3", rep.Repaired)
	}
	rep, err = Check(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BadGranules+rep.BadRecords+rep.Leftovers+rep.Misplaced != 0 || rep.Objects != 1 || rep.Granules != 3 {
		t.Fatalf("after repair Check = %+v; want 1 clean object with 3 granules", rep)
	}

	s2 := openTest(t, Options{Dir: dir, Readahead: -1})
	before := u.calls.Load()
	readCheck(t, s2, fh, u, 0, 4*testGranule)
	if got := u.calls.Load() - before; got != 1 {
		t.Fatalf("fetches after repair = %d; want 1 (the dropped granule)", got)
	}
	if got := s2.Stats().ChecksumFailures; got != 0 {
		t.Fatalf("ChecksumFailures after repair = %d; want 0", got)
	}
}

func TestCheckRepairRefusesLockedCache(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	if _, err := Check(dir, true, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("Check(repair) on an open cache: %v; want ErrLocked", err)
	}
	if _, err := Check(dir, false, nil); err != nil {
		t.Fatalf("Check(read-only) on an open cache: %v; want nil", err)
	}
}

func TestReadStats(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, Readahead: -1})
	other := VolumeKey{Server: "srv", Export: "/other", ID: 2}
	for i := 0; i < 3; i++ {
		readCheck(t, s, fhOf(i), newUpstream(testGranule, byte(i)), 0, testGranule)
	}
	u := newUpstream(2*testGranule, 9)
	if _, err := s.ReadAt(t.Context(), other, fhOf(9), u.coh(), make([]byte, 2*testGranule), 0, FetcherFunc(u.fetch)); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	du, err := ReadStats(dir) // the store still holds the lock
	if err != nil {
		t.Fatal(err)
	}
	if du.Objects != 4 || len(du.Volumes) != 2 {
		t.Fatalf("ReadStats = %+v; want 4 objects in 2 volumes", du)
	}
	for _, v := range du.Volumes {
		want := map[string]int64{testVol.String(): 3, other.String(): 1}[v.Key]
		if v.Objects != want {
			t.Fatalf("volume %q: Objects = %d; want %d", v.Key, v.Objects, want)
		}
		if v.Bytes < v.Objects*testGranule {
			t.Fatalf("volume %q: Bytes = %d; want >= %d", v.Key, v.Bytes, v.Objects*testGranule)
		}
	}
}
