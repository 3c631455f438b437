package coherency

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrent hammers one Cache from several goroutines; run it with
// -race. It checks only invariants that hold whatever the interleaving.
func TestConcurrent(t *testing.T) {
	c, clk := newTest(t, Options{MaxAttrs: 64, MaxNames: 64, MaxListings: 4, MaxListingBytes: 1 << 14})
	const (
		workers = 6
		iters   = 2000
		dirs    = 4
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iters {
				dn := (w + i) % dirs
				d := fh(fmt.Sprintf("dir%d", dn))
				f := fh(fmt.Sprintf("f%d", i%97))
				v := uint32(i%5 + 1)
				switch i % 11 {
				case 0:
					c.PutAttr(d, dir(uint64(dn), v))
				case 1:
					c.PutName(d, fmt.Sprintf("n%d", i%13), f)
				case 2:
					c.PutNegative(d, fmt.Sprintf("n%d", i%13))
				case 3:
					if e, ok := c.Lookup(d, fmt.Sprintf("n%d", i%13)); ok && !e.Negative && len(e.FH) == 0 {
						t.Errorf("Lookup: positive entry without a handle")
					}
				case 4:
					c.PutReaddirplus(d, plusArgs(0, 4096), plusReply(dir(uint64(dn), v), "a", "b"))
				case 5:
					if res, ok := c.Readdirplus(d, plusArgs(0, 4096)); ok && len(res.Entries) != 2 {
						t.Errorf("Readdirplus: %d entries; want 2", len(res.Entries))
					}
				case 6:
					c.ApplyWcc(d, wcc(dir(uint64(dn), v), dir(uint64(dn), v+1)))
				case 7:
					c.PutAttr(f, file(uint64(i%97), v))
					c.PutAccess(f, testCred(uint32(w)), 1, 1)
					c.Access(f, testCred(uint32(w)), 1)
				case 8:
					c.Attr(f)
					c.Readlink(f)
				case 9:
					if i%3 == 0 {
						c.Invalidate(f, CauseStale)
					} else {
						c.ForgetName(d, fmt.Sprintf("n%d", i%13))
					}
				case 10:
					if i%200 == 0 {
						c.InvalidateAll(CauseExplicit)
					}
					clk.Advance(time.Millisecond)
					c.Stats()
				}
			}
		}()
	}
	wg.Wait()

	st := c.Stats()
	if st.AttrEntries < 0 || st.AttrEntries > 64 {
		t.Errorf("AttrEntries = %d; want 0..64", st.AttrEntries)
	}
	if st.NameEntries < 0 || st.NameEntries > 64 {
		t.Errorf("NameEntries = %d; want 0..64", st.NameEntries)
	}
	if st.ListingEntries < 0 || st.ListingEntries > 4 || st.ListingBytes < 0 || st.ListingBytes > 1<<14 {
		t.Errorf("ListingEntries, ListingBytes = %d, %d; want 0..4, 0..16384", st.ListingEntries, st.ListingBytes)
	}
	// The gauges agree with the tables.
	var attrs, names int
	for i := range c.attrs {
		attrs += len(c.attrs[i].nodes)
	}
	for i := range c.names {
		names += len(c.names[i].m)
	}
	if int64(attrs) != st.AttrEntries || int64(names) != st.NameEntries || int64(len(c.listings.dirs)) != st.ListingEntries {
		t.Errorf("gauges attrs, names, listings = %d, %d, %d; want table sizes %d, %d, %d",
			st.AttrEntries, st.NameEntries, st.ListingEntries, attrs, names, len(c.listings.dirs))
	}
}
