package proxy

import (
	"slices"
	"testing"
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
