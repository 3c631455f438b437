package coherency

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// plusReply returns a READDIRPLUS reply for directory d (version v) with
// entries named by names, each with a handle "fh-<name>" and file
// attributes of version 1.
func plusReply(dattr nfs3.Fattr3, names ...string) *nfs3.ReaddirplusRes {
	r := &nfs3.ReaddirplusRes{
		Status:     nfs3.StatOK,
		DirAttr:    nfs3.PostOpAttr{Set: true, Attr: dattr},
		CookieVerf: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
		EOF:        true,
	}
	for i, n := range names {
		fid := uint64(100 + i)
		r.Entries = append(r.Entries, nfs3.DirEntryPlus{
			FileID: fid, Name: n, Cookie: uint64(i + 1),
			Attr: nfs3.PostOpAttr{Set: true, Attr: file(fid, 1)},
			FH:   nfs3.PostOpFH{Set: true, FH: nfs3.FH("fh-" + n)},
		})
	}
	return r
}

func plusArgs(cookie uint64, maxcount uint32) *nfs3.ReaddirplusArgs {
	return &nfs3.ReaddirplusArgs{Dir: nfs3.FH("ignored"), Cookie: cookie, DirCount: 1024, MaxCount: maxcount}
}

func TestReaddirplusKeyedByArgs(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	page0 := plusReply(dir(1, 1), "a", "b")
	c.PutReaddirplus(d, plusArgs(0, 4096), page0)

	verf := plusArgs(0, 4096)
	verf.CookieVerf[0] = 9
	dircount := plusArgs(0, 4096)
	dircount.DirCount = 512
	tests := []struct {
		name string
		args *nfs3.ReaddirplusArgs
		want bool
	}{
		{"same args", plusArgs(0, 4096), true},
		{"other dir field", &nfs3.ReaddirplusArgs{Dir: nfs3.FH("x"), DirCount: 1024, MaxCount: 4096}, true},
		{"other cookie", plusArgs(2, 4096), false},
		{"other maxcount", plusArgs(0, 8192), false},
		{"other dircount", dircount, false},
		{"other verifier", verf, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, ok := c.Readdirplus(d, tt.args)
			if ok != tt.want {
				t.Fatalf("Readdirplus: ok = %v; want %v", ok, tt.want)
			}
			if ok && !reflect.DeepEqual(res, page0) {
				t.Errorf("Readdirplus = %+v; want %+v", res, page0)
			}
		})
	}
	if _, ok := c.Readdir(d, &nfs3.ReaddirArgs{Count: 4096}); ok {
		t.Errorf("Readdir after PutReaddirplus: ok = true; want false (different procedure)")
	}
}

func TestReaddirplusDeepCopy(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	res := plusReply(dir(1, 1), "a", "b")
	want := plusReply(dir(1, 1), "a", "b")
	c.PutReaddirplus(d, plusArgs(0, 4096), res)

	// The caller reuses its reply and buffers.
	copy(res.Entries[0].FH.FH, "XXXX")
	res.Entries[1].Name = "zzz"
	res.Entries = append(res.Entries[:1], nfs3.DirEntryPlus{Name: "new"})
	res.CookieVerf[0] = 0

	got, ok := c.Readdirplus(d, plusArgs(0, 4096))
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Readdirplus after caller changed its reply = %+v, %v; want %+v, true", got, ok, want)
	}
	// And what we hand out is ours to change.
	copy(got.Entries[0].FH.FH, "YYYY")
	got.Entries[0].Name = "q"
	again, _ := c.Readdirplus(d, plusArgs(0, 4096))
	if !reflect.DeepEqual(again, want) {
		t.Errorf("Readdirplus after caller changed a served copy = %+v; want %+v", again, want)
	}
}

func TestReaddirplusOverlay(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	c.PutReaddirplus(d, plusArgs(0, 4096), plusReply(dir(1, 1), "a", "b", "c"))

	newer := file(100, 5) // "a" was written since
	c.PutAttr(fh("fh-a"), newer)
	older := file(101, 1)
	older.Ctime.Sec = 0 // a stale reply for "b" must not win
	c.PutAttr(fh("fh-b"), older)
	c.Invalidate(fh("fh-c"), CauseExplicit)

	// "c" has no fresh attributes any more: the page's old copy must not
	// be served, so the page is a miss (one READDIRPLUS refreshes all).
	if _, ok := c.Readdirplus(d, plusArgs(0, 4096)); ok {
		t.Fatal("Readdirplus with an entry lacking fresh attributes: ok = true; want a miss")
	}
	c.PutAttr(fh("fh-c"), file(102, 1))
	got, ok := c.Readdirplus(d, plusArgs(0, 4096))
	if !ok {
		t.Fatalf("Readdirplus: ok = false; want true")
	}
	wants := []nfs3.Fattr3{newer, file(101, 1), file(102, 1)}
	for i, want := range wants {
		if e := got.Entries[i]; !e.Attr.Set || e.Attr.Attr != want {
			t.Errorf("entry %q attrs = %+v; want %+v", e.Name, e.Attr.Attr, want)
		}
	}
}

func TestReaddirplusRecordsNamesAndAttrs(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	res := plusReply(dir(1, 1), ".", "..", "a")
	res.Entries[0].FH.FH = nfs3.FH("dir")
	res.Entries[0].Attr.Attr = dir(1, 1)
	c.PutReaddirplus(d, plusArgs(0, 4096), res) // records DirAttr itself

	if a, fresh, ok := c.Attr(fh("fh-a")); !ok || !fresh || a != file(102, 1) {
		t.Errorf("Attr(fh-a) = %+v, %v, %v; want %+v, true, true", a, fresh, ok, file(102, 1))
	}
	if e, ok := c.Lookup(d, "a"); !ok || string(e.FH) != "fh-a" {
		t.Errorf("Lookup(a) = %q, %v; want \"fh-a\", true", e.FH, ok)
	}
	if _, ok := c.Lookup(d, ".."); ok {
		t.Errorf("Lookup(..): ok = true; want \"..\" never cached")
	}
	if _, ok := c.Readdirplus(d, plusArgs(0, 4096)); !ok {
		t.Errorf("Readdirplus: ok = false; want true")
	}
}

func TestListingInvalidation(t *testing.T) {
	d := fh("dir")
	tests := []struct {
		name string
		op   func(c *Cache, clk *fakeClock)
		want bool
		kept bool // pages still held (maybe valid again after revalidation)
	}{
		{"nothing", func(*Cache, *fakeClock) {}, true, true},
		{"dir revalidated unchanged", func(c *Cache, _ *fakeClock) { c.PutAttr(d, dir(1, 1)) }, true, true},
		{"dir attrs expired", func(_ *Cache, clk *fakeClock) { clk.Advance(30 * time.Second) }, false, true},
		{"dir changed", func(c *Cache, _ *fakeClock) { c.PutAttr(d, dir(1, 2)) }, false, false},
		{"our create (wcc match)", func(c *Cache, _ *fakeClock) { c.ApplyWcc(d, wcc(dir(1, 1), dir(1, 2))) }, false, false},
		{"wcc mismatch", func(c *Cache, _ *fakeClock) { c.ApplyWcc(d, wcc(dir(1, 5), dir(1, 6))) }, false, false},
		{"invalidate", func(c *Cache, _ *fakeClock) { c.Invalidate(d, CauseStale); c.PutAttr(d, dir(1, 1)) }, false, false},
		{"invalidate all", func(c *Cache, _ *fakeClock) { c.InvalidateAll(CauseExplicit); c.PutAttr(d, dir(1, 1)) }, false, false},
		{"entry changed", func(c *Cache, _ *fakeClock) { c.PutAttr(fh("fh-a"), file(100, 2)) }, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTest(t, Options{})
			c.PutAttr(d, dir(1, 1))
			c.PutReaddirplus(d, plusArgs(0, 4096), plusReply(dir(1, 1), "a"))
			c.PutReaddir(d, &nfs3.ReaddirArgs{Count: 4096}, &nfs3.ReaddirRes{
				Status: nfs3.StatOK, DirAttr: nfs3.PostOpAttr{Set: true, Attr: dir(1, 1)},
				Entries: []nfs3.DirEntry{{FileID: 100, Name: "a", Cookie: 1}}, EOF: true,
			})
			tt.op(c, clk)
			if _, ok := c.Readdirplus(d, plusArgs(0, 4096)); ok != tt.want {
				t.Errorf("Readdirplus: ok = %v; want %v", ok, tt.want)
			}
			if _, ok := c.Readdir(d, &nfs3.ReaddirArgs{Count: 4096}); ok != tt.want {
				t.Errorf("Readdir: ok = %v; want %v", ok, tt.want)
			}
			if !tt.want && !tt.kept {
				if st := c.Stats(); st.ListingPages != 0 || st.ListingBytes != 0 {
					t.Errorf("after invalidation: ListingPages, ListingBytes = %d, %d; want 0, 0", st.ListingPages, st.ListingBytes)
				}
			}
		})
	}
}

func TestReaddir(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	res := &nfs3.ReaddirRes{
		Status: nfs3.StatOK, DirAttr: nfs3.PostOpAttr{Set: true, Attr: dir(1, 1)},
		CookieVerf: [8]byte{7},
		Entries:    []nfs3.DirEntry{{FileID: 100, Name: "a", Cookie: 1}, {FileID: 101, Name: "b", Cookie: 2}},
		EOF:        true,
	}
	c.PutReaddir(d, &nfs3.ReaddirArgs{Cookie: 0, Count: 4096}, res)
	want := copyReaddir(res)
	res.Entries[0].Name = "changed"

	if got, ok := c.Readdir(d, &nfs3.ReaddirArgs{Cookie: 0, Count: 4096}); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Readdir = %+v, %v; want %+v, true", got, ok, want)
	}
	if _, ok := c.Readdir(d, &nfs3.ReaddirArgs{Cookie: 0, Count: 8192}); ok {
		t.Errorf("Readdir with another count: ok = true; want false")
	}
	c.PutReaddir(d, &nfs3.ReaddirArgs{Cookie: 5, Count: 4096}, &nfs3.ReaddirRes{Status: nfs3.StatBadCookie})
	if _, ok := c.Readdir(d, &nfs3.ReaddirArgs{Cookie: 5, Count: 4096}); ok {
		t.Errorf("Readdir of an error reply: ok = true; want errors not cached")
	}
}

func TestListingBounds(t *testing.T) {
	t.Run("MaxListings", func(t *testing.T) {
		c, _ := newTest(t, Options{MaxListings: 3})
		for i := range 10 {
			d := fh(fmt.Sprintf("dir%d", i))
			c.PutAttr(d, dir(uint64(i), 1))
			c.PutReaddirplus(d, plusArgs(0, 4096), plusReply(dir(uint64(i), 1), "a"))
			c.Readdirplus(fh("dir0"), plusArgs(0, 4096)) // keep dir0 in use
		}
		st := c.Stats()
		if st.ListingEntries != 3 || st.ListingPages != 3 {
			t.Errorf("ListingEntries, ListingPages = %d, %d; want 3, 3", st.ListingEntries, st.ListingPages)
		}
		for _, tt := range []struct {
			dir  string
			want bool
		}{{"dir9", true}, {"dir8", true}, {"dir0", true}, {"dir7", false}, {"dir1", false}} {
			if _, ok := c.Readdirplus(fh(tt.dir), plusArgs(0, 4096)); ok != tt.want {
				t.Errorf("Readdirplus(%s): ok = %v; want %v", tt.dir, ok, tt.want)
			}
		}
	})
	t.Run("MaxListingBytes", func(t *testing.T) {
		one := plusSize(plusReply(dir(1, 1), "a"))
		c, _ := newTest(t, Options{MaxListingBytes: 4 * one})
		d := fh("big")
		c.PutAttr(d, dir(1, 1))
		for i := range 10 {
			c.PutReaddirplus(d, plusArgs(uint64(i), 4096), plusReply(dir(1, 1), "a"))
			other := fh(fmt.Sprintf("other%d", i))
			c.PutAttr(other, dir(uint64(10+i), 1))
			c.PutReaddirplus(other, plusArgs(0, 4096), plusReply(dir(uint64(10+i), 1), "a"))
			if st := c.Stats(); st.ListingBytes > 4*one {
				t.Fatalf("ListingBytes = %d; want at most %d", st.ListingBytes, 4*one)
			}
		}
		if _, ok := c.Readdirplus(fh("other9"), plusArgs(0, 4096)); !ok {
			t.Errorf("Readdirplus of the last page stored: ok = false; want true")
		}
		c.PutReaddirplus(d, plusArgs(99, 4096), plusReply(dir(1, 1), make([]string, 100)...))
		if _, ok := c.Readdirplus(d, plusArgs(99, 4096)); ok {
			t.Errorf("Readdirplus of a page over MaxListingBytes: ok = true; want it not stored")
		}
	})
}

// TestListingsTable drives the listing table directly: generations,
// replacement and the byte bound within one directory.
func TestListingsTable(t *testing.T) {
	var ctr counters
	var l listings
	l.init(10, 300)
	pg := func(size int64) *page { return &page{rd: &nfs3.ReaddirRes{}, size: size} }
	k := func(cookie uint64) listKey { return listKey{cookie: cookie} }
	d := fh("d")
	check := func(step string, wantPages, wantBytes int64) {
		t.Helper()
		if got := ctr.listingPages.Load(); got != wantPages {
			t.Errorf("%s: ListingPages = %d; want %d", step, got, wantPages)
		}
		if got := ctr.listingBytes.Load(); got != wantBytes || l.bytes != wantBytes {
			t.Errorf("%s: ListingBytes = %d (table %d); want %d", step, got, l.bytes, wantBytes)
		}
	}

	l.put(d, k(0), 5, pg(100), &ctr)
	l.put(d, k(0), 5, pg(120), &ctr)
	check("same key stored twice", 1, 120)

	l.put(d, k(1), 4, pg(10), &ctr)
	check("put for an older generation", 1, 120)
	if l.get(d, k(1), 4, &ctr) != nil {
		t.Errorf("get of a page put for an older generation: found; want nothing")
	}

	l.put(d, k(1), 5, pg(100), &ctr)
	check("two pages", 2, 220)
	l.put(d, k(3), 5, pg(100), &ctr)
	check("one directory over the byte bound", 1, 100)
	if l.get(d, k(3), 5, &ctr) == nil {
		t.Errorf("get of the page just stored: nothing; want it kept")
	}

	l.put(d, k(0), 6, pg(50), &ctr)
	check("put for a newer generation", 1, 50)
	if l.get(d, k(3), 5, &ctr) != nil {
		t.Errorf("get for the old generation: found; want nothing")
	}
	if l.get(d, k(0), 7, &ctr) != nil || ctr.listingEntries.Load() != 0 {
		t.Errorf("get for a newer generation: want nothing and the old pages dropped")
	}
	check("after get for a newer generation", 0, 0)

	l.put(d, k(0), 8, pg(301), &ctr)
	check("page over the byte bound", 0, 0)
}
