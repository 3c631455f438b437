package proxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestLookupVolume: a MNT path picks the volume whose name is its longest
// prefix at a component boundary, and the components below it.
func TestLookupVolume(t *testing.T) {
	vols := map[string]*volume{"/export": {}, "/data/set": {}, "/": {}}
	s := &Server{byName: vols}
	tests := []struct {
		path  string
		vol   string
		below []string
	}{
		{"/export", "/export", nil},
		{"/export/", "/export", nil},
		{"/export/a/b", "/export", []string{"a", "b"}},
		{"/export//a//", "/export", []string{"a"}},
		{"/exportx", "/", []string{"exportx"}},
		{"/data/set/x", "/data/set", []string{"x"}},
		{"/data/other", "/", []string{"data", "other"}},
		{"/", "/", nil},
	}
	for _, tt := range tests {
		v, below := s.lookupVolume(tt.path)
		if v != vols[tt.vol] || !slices.Equal(below, tt.below) {
			t.Errorf("lookupVolume(%q) = (%p, %q); want (%s %p, %q)", tt.path, v, below, tt.vol, vols[tt.vol], tt.below)
		}
	}
	delete(vols, "/")
	if v, _ := s.lookupVolume("/exportx"); v != nil {
		t.Errorf("lookupVolume(/exportx) without a / volume = %p; want none", v)
	}
}

// TestMountTableCap is the DUMP row of the limits table (internal/nfs3
// doc): the mount table lists up to maxMountEntries (client, path) pairs, a
// MNT beyond that is served but not listed, a repeated pair is listed once,
// UMNT frees a place, and a full table's DUMP reply decodes whole with the
// protocol's own decoder (longest hostnames and paths the protocol allows).
func TestMountTableCap(t *testing.T) {
	var mt mountTable
	host := func(i int) string { return fmt.Sprintf("%0255d", i) } // MNTNAMLEN
	dir := "/" + strings.Repeat("d", nfs3.MountPathLen-1)          // MNTPATHLEN
	for i := range maxMountEntries {
		mt.add(host(i), dir)
	}
	mt.add(host(0), dir) // a repeat
	if n := len(mt.list()); n != maxMountEntries {
		t.Fatalf("table after %d distinct MNTs and a repeat lists %d; want %d", maxMountEntries, n, maxMountEntries)
	}
	mt.add("one-too-many", dir)
	if slices.ContainsFunc(mt.list(), func(e nfs3.MountEntry) bool { return e.Hostname == "one-too-many" }) {
		t.Fatalf("entry %d was listed; the cap is %d", maxMountEntries+1, maxMountEntries)
	}
	mt.remove(host(7), "")
	mt.add("one-too-many", dir)
	if !slices.ContainsFunc(mt.list(), func(e nfs3.MountEntry) bool { return e.Hostname == "one-too-many" }) {
		t.Fatal("after UMNT freed a place, a new MNT is not listed")
	}

	w := xdr.NewWriter(nil)
	(&nfs3.DumpRes{Mounts: mt.list()}).Encode(w)
	var got nfs3.DumpRes
	if err := got.Decode(xdr.NewReader(w.Bytes())); err != nil {
		t.Fatalf("decoding a full table's DUMP reply (%d bytes): %v", len(w.Bytes()), err)
	}
	if len(got.Mounts) != maxMountEntries {
		t.Fatalf("a full table's DUMP reply decodes to %d entries; want %d", len(got.Mounts), maxMountEntries)
	}
}
