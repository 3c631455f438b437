package coherency

import (
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

func TestAccess(t *testing.T) {
	const (
		r = nfs3.AccessRead
		l = nfs3.AccessLookup
		m = nfs3.AccessModify
		x = nfs3.AccessExecute
	)
	type put struct{ asked, granted uint32 }
	tests := []struct {
		name        string
		puts        []put
		want        uint32
		wantOK      bool
		wantGranted uint32
	}{
		{"nothing asked", nil, r, false, 0},
		{"asked, granted", []put{{r | m, r}}, r, true, r},
		{"asked, denied", []put{{r | m, r}}, m, true, 0},
		{"subset of asked", []put{{r | m | x, r | x}}, r | x, true, r | x},
		{"not every bit asked", []put{{r, r}}, r | m, false, 0},
		{"merged over two replies", []put{{r, r}, {m, 0}}, r | m, true, r},
		{"later reply wins", []put{{r | m, r | m}, {m, 0}}, r | m, true, r},
		{"granted beyond asked ignored", []put{{r, r | m}, {l, l}}, r | l, true, r | l},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTest(t, Options{})
			h := fh("f")
			c.PutAttr(h, file(1, 1))
			for _, p := range tt.puts {
				c.PutAccess(h, testCred(1000), p.asked, p.granted)
			}
			got, ok := c.Access(h, testCred(1000), tt.want)
			if ok != tt.wantOK || got != tt.wantGranted {
				t.Errorf("Access(%#x) = %#x, %v; want %#x, %v", tt.want, got, ok, tt.wantGranted, tt.wantOK)
			}
			if _, ok := c.Access(h, testCred(1001), tt.want); ok {
				t.Errorf("Access for another credential: ok = true; want false")
			}
		})
	}
}

func TestAccessValidity(t *testing.T) {
	h := fh("f")
	tests := []struct {
		name string
		op   func(c *Cache, clk *fakeClock)
		want bool
	}{
		{"fresh", func(*Cache, *fakeClock) {}, true},
		{"expired", func(_ *Cache, clk *fakeClock) { clk.Advance(3 * time.Second) }, false},
		{"expired, revalidated", func(c *Cache, clk *fakeClock) { clk.Advance(3 * time.Second); c.PutAttr(h, file(1, 1)) }, true},
		{"changed", func(c *Cache, _ *fakeClock) { c.PutAttr(h, file(1, 2)) }, false},
		{"our write", func(c *Cache, _ *fakeClock) { c.ApplyWcc(h, wcc(file(1, 1), file(1, 2))) }, true},
		{"invalidated", func(c *Cache, _ *fakeClock) { c.Invalidate(h, CauseStale); c.PutAttr(h, file(1, 1)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTest(t, Options{})
			c.PutAccess(h, testCred(1), 1, 1) // no attrs yet: not stored
			if _, ok := c.Access(h, testCred(1), 1); ok {
				t.Fatalf("Access stored without attributes: ok = true; want false")
			}
			c.PutAttr(h, file(1, 1))
			c.PutAccess(h, testCred(1), 1, 1)
			tt.op(c, clk)
			if _, ok := c.Access(h, testCred(1), 1); ok != tt.want {
				t.Errorf("Access: ok = %v; want %v", ok, tt.want)
			}
		})
	}
}

func TestAccessBounded(t *testing.T) {
	c, _ := newTest(t, Options{})
	h := fh("f")
	c.PutAttr(h, file(1, 1))
	for uid := range uint32(3 * maxAccess) {
		c.PutAccess(h, testCred(uid), 1, 1)
	}
	hits := 0
	for uid := range uint32(3 * maxAccess) {
		if _, ok := c.Access(h, testCred(uid), 1); ok {
			hits++
		}
	}
	if hits != maxAccess {
		t.Errorf("credentials remembered = %d; want %d", hits, maxAccess)
	}
	if _, ok := c.Access(h, testCred(3*maxAccess-1), 1); !ok {
		t.Errorf("Access for the latest credential: ok = false; want true")
	}
}

func TestReadlink(t *testing.T) {
	h := fh("l")
	link := file(1, 1)
	link.Type = nfs3.TypeLnk
	changed := link
	changed.Ctime.Sec++
	tests := []struct {
		name string
		op   func(c *Cache, clk *fakeClock)
		want bool
	}{
		{"fresh", func(*Cache, *fakeClock) {}, true},
		{"expired", func(_ *Cache, clk *fakeClock) { clk.Advance(time.Minute) }, false},
		{"changed", func(c *Cache, _ *fakeClock) { c.PutAttr(h, changed) }, false},
		{"invalidated", func(c *Cache, _ *fakeClock) { c.Invalidate(h, CauseExplicit); c.PutAttr(h, link) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTest(t, Options{})
			c.PutAttr(h, link)
			c.PutReadlink(h, "../target")
			tt.op(c, clk)
			got, ok := c.Readlink(h)
			if ok != tt.want || (ok && got != "../target") {
				t.Errorf("Readlink = %q, %v; want \"../target\", %v", got, ok, tt.want)
			}
		})
	}
}
