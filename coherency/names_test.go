package coherency

import (
	"bytes"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

func TestLookup(t *testing.T) {
	type op func(c *Cache, clk *fakeClock)
	d := fh("dir")
	putDir := func(v uint32) op { return func(c *Cache, _ *fakeClock) { c.PutAttr(d, dir(1, v)) } }
	advance := func(x time.Duration) op { return func(_ *Cache, clk *fakeClock) { clk.Advance(x) } }
	tests := []struct {
		name    string
		ops     []op
		wantOK  bool
		wantNeg bool
		wantFH  string
		mode    Mode   // default ModeTTL
		lookup  string // default "a"
	}{
		{"positive", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }}, true, false, "fa", ModeTTL, ""},
		{"negative", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutNegative(d, "a") }}, true, true, "", ModeTTL, ""},
		{"negative replaced by positive", []op{putDir(1),
			func(c *Cache, _ *fakeClock) { c.PutNegative(d, "a") },
			func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }}, true, false, "fa", ModeTTL, ""},
		{"no dir attrs: not stored", []op{func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }, putDir(1)}, false, false, "", ModeTTL, ""},
		{"dir attrs expired", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }, advance(31 * time.Second)}, false, false, "", ModeTTL, ""},
		{"dir revalidated unchanged", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) },
			advance(31 * time.Second), putDir(1)}, true, false, "fa", ModeTTL, ""},
		{"dir changed", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }, putDir(2)}, false, false, "", ModeTTL, ""},
		{"negative, dir changed", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutNegative(d, "a") }, putDir(2)}, false, false, "", ModeTTL, ""},
		{"dir changed and back", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }, putDir(2), putDir(1)}, false, false, "", ModeTTL, ""},
		{"our create (wcc match)", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutNegative(d, "a") },
			func(c *Cache, _ *fakeClock) { c.ApplyWcc(d, wcc(dir(1, 1), dir(1, 2))) }}, true, true, "", ModeTTL, ""},
		{"someone else's change (wcc mismatch)", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) },
			func(c *Cache, _ *fakeClock) { c.ApplyWcc(d, wcc(dir(1, 2), dir(1, 3))) }}, false, false, "", ModeTTL, ""},
		{"forgotten", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) },
			func(c *Cache, _ *fakeClock) { c.ForgetName(d, "a") }}, false, false, "", ModeTTL, ""},
		{"dir invalidated", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) },
			func(c *Cache, _ *fakeClock) { c.Invalidate(d, CauseExplicit) }, putDir(1)}, false, false, "", ModeTTL, ""},
		{"target stale", []op{putDir(1),
			func(c *Cache, _ *fakeClock) { c.PutAttr(fh("fa"), file(2, 1)); c.PutName(d, "a", fh("fa")) },
			func(c *Cache, _ *fakeClock) { c.Invalidate(fh("fa"), CauseStale) }}, false, false, "", ModeTTL, ""},
		{"dot", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, ".", d) }}, false, false, "", ModeTTL, "."},
		{"dotdot", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "..", fh("parent")) }}, false, false, "", ModeTTL, ".."},
		{"static never expires", []op{putDir(1), func(c *Cache, _ *fakeClock) { c.PutName(d, "a", fh("fa")) }, advance(1000 * time.Hour)}, true, false, "fa", ModeStatic, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTest(t, Options{Mode: tt.mode})
			for _, o := range tt.ops {
				o(c, clk)
			}
			name := tt.lookup
			if name == "" {
				name = "a"
			}
			e, ok := c.Lookup(d, name)
			if ok != tt.wantOK {
				t.Fatalf("Lookup: ok = %v; want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if e.Negative != tt.wantNeg || string(e.FH) != tt.wantFH {
				t.Errorf("Lookup = {FH:%q Negative:%v}; want {FH:%q Negative:%v}", e.FH, e.Negative, tt.wantFH, tt.wantNeg)
			}
		})
	}
}

func TestPutNameCopies(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	target := fh("target")
	c.PutName(d, "a", target)
	copy(target, "XXXXXX")
	d[0] = 'X' // the caller reuses its buffer
	e, ok := c.Lookup(fh("dir"), "a")
	if !ok || !bytes.Equal(e.FH, []byte("target")) {
		t.Errorf("Lookup after caller changed its slices = %q, %v; want \"target\", true", e.FH, ok)
	}
}

func TestNameStats(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	c.PutName(d, "a", fh("fa"))
	c.PutNegative(d, "b")
	c.Lookup(d, "a")
	c.Lookup(d, "b")
	c.Lookup(d, "c")
	st := c.Stats()
	got := [4]int64{st.NameHits, st.NegativeHits, st.NameMisses, st.NameEntries}
	if want := [4]int64{1, 1, 1, 2}; got != want {
		t.Errorf("NameHits, NegativeHits, NameMisses, NameEntries = %v; want %v", got, want)
	}
}

func TestPutLookup(t *testing.T) {
	d := fh("dir")
	ok := func(dattr nfs3.Fattr3) *nfs3.LookupRes {
		return &nfs3.LookupRes{Status: nfs3.StatOK, Object: nfs3.FH("fa"),
			ObjAttr: nfs3.PostOpAttr{Set: true, Attr: file(2, 1)},
			DirAttr: nfs3.PostOpAttr{Set: true, Attr: dattr}}
	}
	tests := []struct {
		name     string
		res      *nfs3.LookupRes
		wantOK   bool
		wantNeg  bool
		wantAttr bool // the object's attributes were recorded
	}{
		{"found", ok(dir(1, 1)), true, false, true},
		{"found, dir changed in the reply", ok(dir(1, 2)), true, false, true},
		{"found, no dir attrs", &nfs3.LookupRes{Status: nfs3.StatOK, Object: nfs3.FH("fa"),
			ObjAttr: nfs3.PostOpAttr{Set: true, Attr: file(2, 1)}}, true, false, true},
		{"noent", &nfs3.LookupRes{Status: nfs3.StatNoEnt,
			DirAttr: nfs3.PostOpAttr{Set: true, Attr: dir(1, 1)}}, true, true, false},
		{"access denied", &nfs3.LookupRes{Status: nfs3.StatAcces,
			DirAttr: nfs3.PostOpAttr{Set: true, Attr: dir(1, 1)}}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTest(t, Options{})
			c.PutAttr(d, dir(1, 1))
			c.PutLookup(d, "a", tt.res)
			e, ok := c.Lookup(d, "a")
			if ok != tt.wantOK || e.Negative != tt.wantNeg {
				t.Fatalf("Lookup = %+v, %v; want Negative %v, %v", e, ok, tt.wantNeg, tt.wantOK)
			}
			if _, _, ok := c.Attr(fh("fa")); ok != tt.wantAttr {
				t.Errorf("Attr(fa): ok = %v; want %v", ok, tt.wantAttr)
			}
			if tt.wantOK && !tt.wantNeg {
				c.Invalidate(fh("fa"), CauseStale)
				if _, ok := c.Lookup(d, "a"); ok {
					t.Errorf("Lookup after Invalidate of the target: ok = true; want false")
				}
			}
		})
	}
}

// A reply whose directory attributes are no longer the cached version
// (another reply recorded a newer one in between) stores nothing.
func TestStoreAgainstVersion(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	old := dir(1, 1)
	c.PutAttr(d, dir(1, 2))
	if _, ok := c.putName(d, "a", fh("fa"), false, &old); ok {
		t.Errorf("putName against an old version: stored; want not")
	}
	if _, _, ok := c.dirState(d, &old); ok {
		t.Errorf("dirState against an old version: ok = true; want false")
	}
	cur := dir(1, 2)
	if _, ok := c.putName(d, "a", fh("fa"), false, &cur); !ok {
		t.Errorf("putName against the cached version: not stored; want stored")
	}
}

// TestNameHint: NameHint returns the handle a name was last recorded to
// lead to, also once the directory changed (so Lookup misses), and nothing
// for a name forgotten, absent, never recorded or leading to a stale
// object.
func TestNameHint(t *testing.T) {
	d := fh("dir")
	tests := []struct {
		name   string
		ops    func(c *Cache)
		wantFH string // "" = no hint
	}{
		{"recorded", func(c *Cache) { c.PutName(d, "a", fh("fa")) }, "fa"},
		{"someone else's change (wcc mismatch)", func(c *Cache) {
			c.PutName(d, "a", fh("fa"))
			c.ApplyWcc(d, wcc(dir(1, 2), dir(1, 3)))
		}, "fa"},
		{"dir changed on revalidation", func(c *Cache) { c.PutName(d, "a", fh("fa")); c.PutAttr(d, dir(1, 2)) }, "fa"},
		{"re-recorded after the change", func(c *Cache) {
			c.PutName(d, "a", fh("fa"))
			c.PutAttr(d, dir(1, 2))
			c.PutName(d, "a", fh("fb"))
		}, "fb"},
		{"forgotten", func(c *Cache) { c.PutName(d, "a", fh("fa")); c.ForgetName(d, "a") }, ""},
		{"removed through us", func(c *Cache) { c.PutName(d, "a", fh("fa")); c.ForgetName(d, "a"); c.PutNegative(d, "a") }, ""},
		{"never recorded", func(c *Cache) {}, ""},
		{"target stale", func(c *Cache) {
			c.PutAttr(fh("fa"), file(2, 1))
			c.PutName(d, "a", fh("fa"))
			c.Invalidate(fh("fa"), CauseStale)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTest(t, Options{})
			c.PutAttr(d, dir(1, 1))
			tt.ops(c)
			got, ok := c.NameHint(d, "a")
			if ok != (tt.wantFH != "") || string(got) != tt.wantFH {
				t.Errorf("NameHint = %q, %v; want %q", got, ok, tt.wantFH)
			}
			if _, ok := c.NameHint(d, "."); ok {
				t.Errorf(`NameHint(".") found a hint; want none`)
			}
		})
	}
	// The hint is a copy: the caller may keep it.
	c, _ := newTest(t, Options{})
	c.PutAttr(d, dir(1, 1))
	c.PutName(d, "a", fh("fa"))
	h, _ := c.NameHint(d, "a")
	h[0] = 'X'
	if again, _ := c.NameHint(d, "a"); string(again) != "fa" {
		t.Errorf("NameHint after the caller changed its copy = %q; want fa", again)
	}
}
