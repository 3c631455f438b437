package coherency

import (
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

func TestModeForwardGetattr(t *testing.T) {
	for _, m := range []Mode{ModeTTL, ModeCTO, ModeStatic} {
		c, _ := newTest(t, Options{Mode: m})
		if got, want := c.ForwardGetattr(), m == ModeCTO; got != want {
			t.Errorf("%v: ForwardGetattr() = %v; want %v", m, got, want)
		}
		if got := c.Mode(); got != m {
			t.Errorf("Mode() = %v; want %v", got, m)
		}
	}
}

func TestAttrMiss(t *testing.T) {
	c, _ := newTest(t, Options{})
	if _, fresh, ok := c.Attr(fh("nope")); ok || fresh {
		t.Errorf("Attr of unknown handle: got ok=%v fresh=%v; want false, false", ok, fresh)
	}
	if changed := c.PutPostOp(fh("a"), nfs3.PostOpAttr{}); changed {
		t.Errorf("PutPostOp(unset) = true; want false")
	}
	if _, _, ok := c.Attr(fh("a")); ok {
		t.Errorf("Attr after PutPostOp(unset): got ok; want nothing cached")
	}
}

// step is one action in a TTL scenario: advance the clock, optionally put
// attributes of version put (0: none), then check freshness.
type step struct {
	advance   time.Duration
	put       uint32
	wantFresh bool
	wantTTL   time.Duration
}

func TestAdaptiveTTL(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		mode  Mode
		attr  func(uint64, uint32) nfs3.Fattr3
		steps []step
	}{
		{"file/expires at min", ModeTTL, file, []step{
			{0, 1, true, 3 * s},
			{2999 * time.Millisecond, 0, true, 3 * s},
			{time.Millisecond, 0, false, 3 * s},
		}},
		{"file/doubles when unchanged", ModeTTL, file, []step{
			{0, 1, true, 3 * s},
			{3 * s, 1, true, 6 * s},   // a TTL passed: double
			{1 * s, 1, true, 6 * s},   // within the TTL: no change
			{5 * s, 1, true, 12 * s},  // 6s since the last adaptation
			{12 * s, 1, true, 24 * s}, //
			{24 * s, 1, true, 48 * s},
			{48 * s, 1, true, 60 * s}, // capped at max
			{59 * s, 0, true, 60 * s},
			{1 * s, 0, false, 60 * s},
			{0, 1, true, 60 * s},
		}},
		{"file/resets when changed", ModeTTL, file, []step{
			{0, 1, true, 3 * s},
			{3 * s, 1, true, 6 * s},
			{6 * s, 1, true, 12 * s},
			{1 * s, 2, true, 3 * s},
			{3 * s, 0, false, 3 * s},
		}},
		{"dir/starts at acdirmin", ModeTTL, dir, []step{
			{0, 1, true, 30 * s},
			{29 * s, 0, true, 30 * s},
			{1 * s, 0, false, 30 * s},
			{0, 1, true, 60 * s},
			{60 * s, 0, false, 60 * s},
			{0, 2, true, 30 * s},
		}},
		{"cto/same as ttl", ModeCTO, file, []step{
			{0, 1, true, 3 * s},
			{3 * s, 0, false, 3 * s},
			{0, 1, true, 6 * s},
		}},
		{"static/never expires", ModeStatic, file, []step{
			{0, 1, true, 3 * s},
			{1000 * time.Hour, 0, true, 3 * s},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTest(t, Options{Mode: tt.mode})
			h := fh("obj")
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				if st.put != 0 {
					c.PutAttr(h, tt.attr(7, st.put))
				}
				a, fresh, ok := c.Attr(h)
				if !ok {
					t.Fatalf("step %d: Attr: got nothing cached; want attributes", i)
				}
				if fresh != st.wantFresh {
					t.Errorf("step %d: fresh = %v; want %v", i, fresh, st.wantFresh)
				}
				if st.put != 0 && a.Mtime.Sec != st.put {
					t.Errorf("step %d: mtime = %d; want %d", i, a.Mtime.Sec, st.put)
				}
				if got := c.ttlOf(h); got != st.wantTTL {
					t.Errorf("step %d: ttl = %v; want %v", i, got, st.wantTTL)
				}
			}
		})
	}
}

// ttlOf returns the current TTL of fh, for tests.
func (c *Cache) ttlOf(fh []byte) time.Duration {
	s := c.attrShard(fh)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[string(fh)]; n != nil {
		return n.ttl
	}
	return -1
}

func TestPutAttrChanged(t *testing.T) {
	base := file(7, 1)
	tests := []struct {
		name   string
		modify func(*nfs3.Fattr3)
		want   bool
	}{
		{"same", func(*nfs3.Fattr3) {}, false},
		{"atime only", func(a *nfs3.Fattr3) { a.Atime.Sec = 99 }, false},
		{"used only", func(a *nfs3.Fattr3) { a.Used = 12345 }, false},
		{"size", func(a *nfs3.Fattr3) { a.Size++ }, true},
		{"mtime nsec", func(a *nfs3.Fattr3) { a.Mtime.Nsec++ }, true},
		{"ctime", func(a *nfs3.Fattr3) { a.Ctime.Sec++ }, true},
		{"fileid", func(a *nfs3.Fattr3) { a.FileID++ }, true},
		{"type", func(a *nfs3.Fattr3) { a.Type = nfs3.TypeLnk }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTest(t, Options{})
			if got := c.PutAttr(fh("f"), base); got {
				t.Fatalf("first PutAttr = true; want false")
			}
			a := base
			tt.modify(&a)
			if got := c.PutAttr(fh("f"), a); got != tt.want {
				t.Errorf("PutAttr = %v; want %v", got, tt.want)
			}
			if got, _, _ := c.Attr(fh("f")); got != a {
				t.Errorf("Attr = %+v; want the latest %+v", got, a)
			}
		})
	}
}

func TestStaticInvalidate(t *testing.T) {
	c, clk := newTest(t, Options{Mode: ModeStatic})
	c.PutAttr(fh("a"), file(1, 1))
	c.PutAttr(fh("b"), file(2, 1))
	clk.Advance(24 * time.Hour)
	if _, fresh, _ := c.Attr(fh("a")); !fresh {
		t.Fatalf("static: Attr after a day: fresh = false; want true")
	}
	c.Invalidate(fh("a"), CauseExplicit)
	if _, _, ok := c.Attr(fh("a")); ok {
		t.Errorf("Attr after Invalidate: got ok; want nothing cached")
	}
	if _, fresh, _ := c.Attr(fh("b")); !fresh {
		t.Errorf("Attr of another handle after Invalidate: fresh = false; want true")
	}
	c.InvalidateAll(CauseExplicit)
	if _, _, ok := c.Attr(fh("b")); ok {
		t.Errorf("Attr after InvalidateAll: got ok; want nothing cached")
	}
	st := c.Stats()
	if got, want := st.Invalidations[CauseExplicit], int64(2); got != want {
		t.Errorf("Invalidations[explicit] = %d; want %d", got, want)
	}
	if st.AttrEntries != 0 {
		t.Errorf("AttrEntries = %d; want 0", st.AttrEntries)
	}
}

func TestApplyWcc(t *testing.T) {
	v1, v2, v3 := file(7, 1), file(7, 2), file(7, 3)
	noBefore := wcc(v1, v2)
	noBefore.Before.Set = false
	noAfter := wcc(v1, v2)
	noAfter.After.Set = false
	chmod := v2
	chmod.Mode = 0o600
	tests := []struct {
		name       string
		cached     *nfs3.Fattr3
		w          nfs3.WccData
		wantOurs   bool
		wantAttr   *nfs3.Fattr3 // nil: nothing cached after
		wantAccess bool         // ACCESS result survives
	}{
		{"pre matches", &v1, wcc(v1, v2), true, &v2, true},
		{"pre matches, mode changed", &v1, wcc(v1, chmod), true, &chmod, false},
		{"pre mismatch", &v1, wcc(v2, v3), false, &v3, false},
		{"no pre", &v1, noBefore, false, &v2, false},
		{"no post", &v1, noAfter, false, nil, false},
		{"nothing cached", nil, wcc(v1, v2), false, &v2, false},
		{"nothing cached, no post", nil, noAfter, false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTest(t, Options{})
			h := fh("f")
			cred := testCred(1000)
			if tt.cached != nil {
				c.PutAttr(h, *tt.cached)
				c.PutAccess(h, cred, 1, 1)
			}
			if got := c.ApplyWcc(h, tt.w); got != tt.wantOurs {
				t.Errorf("ApplyWcc = %v; want %v", got, tt.wantOurs)
			}
			a, fresh, ok := c.Attr(h)
			switch {
			case tt.wantAttr == nil && ok:
				t.Errorf("Attr after: got %+v; want nothing cached", a)
			case tt.wantAttr != nil && (!ok || a != *tt.wantAttr || !fresh):
				t.Errorf("Attr after: got %+v fresh=%v ok=%v; want fresh %+v", a, fresh, ok, *tt.wantAttr)
			}
			if _, ok := c.Access(h, cred, 1); ok != tt.wantAccess {
				t.Errorf("Access after: ok = %v; want %v", ok, tt.wantAccess)
			}
		})
	}
}

// A WCC match counts as a revalidation even when the attributes had
// expired: nobody else changed the object since they were cached.
func TestApplyWccStaleAttrs(t *testing.T) {
	c, clk := newTest(t, Options{})
	c.PutAttr(fh("f"), file(7, 1))
	clk.Advance(time.Hour)
	if !c.ApplyWcc(fh("f"), wcc(file(7, 1), file(7, 2))) {
		t.Fatalf("ApplyWcc = false; want true")
	}
	if _, fresh, _ := c.Attr(fh("f")); !fresh {
		t.Errorf("fresh = false; want true")
	}
}

// TestLateReplyDoesNotRollBack: attributes with an older ctime arriving
// just after newer ones (an out-of-order reply) are ignored; much later
// they are the upstream's word again.
func TestLateReplyDoesNotRollBack(t *testing.T) {
	c, clk := newTest(t, Options{})
	fh := []byte{1}
	newer := nfs3.Fattr3{Type: nfs3.TypeReg, FileID: 5, Mode: 0o600, Size: 10, Ctime: nfs3.Time{Sec: 20}, Mtime: nfs3.Time{Sec: 20}}
	older := newer
	older.Mode, older.Ctime, older.Mtime = 0o644, nfs3.Time{Sec: 10}, nfs3.Time{Sec: 10}
	c.PutAttr(fh, newer)
	c.PutAttr(fh, older)
	if a, _, _ := c.Attr(fh); a.Mode != 0o600 {
		t.Fatalf("after a late reply: mode %o; want 600 (no rollback)", a.Mode)
	}
	clk.Advance(time.Minute)
	c.PutAttr(fh, older)
	if a, _, _ := c.Attr(fh); a.Mode != 0o644 {
		t.Fatalf("a minute later: mode %o; want 644 (the upstream's word)", a.Mode)
	}
}
