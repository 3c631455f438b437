package coherency

import (
	"fmt"
	"hash/maphash"
	"testing"
)

func TestAttrBound(t *testing.T) {
	for _, max := range []int{1, 3, 100, 5000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			c, _ := newTest(t, Options{MaxAttrs: max})
			for i := range 4 * max {
				c.PutAttr(fh(fmt.Sprintf("f%d", i)), file(uint64(i), 1))
				if n := c.Stats().AttrEntries; n > int64(max) {
					t.Fatalf("after %d inserts: AttrEntries = %d; want at most %d", i+1, n, max)
				}
			}
			if _, _, ok := c.Attr(fh(fmt.Sprintf("f%d", 4*max-1))); !ok {
				t.Errorf("the last handle inserted was evicted; want it cached")
			}
			if st := c.Stats(); st.AttrEvictions != int64(4*max)-st.AttrEntries {
				t.Errorf("AttrEvictions = %d; want inserts - entries = %d", st.AttrEvictions, int64(4*max)-st.AttrEntries)
			}
		})
	}
}

func TestAttrLRU(t *testing.T) {
	c, _ := newTest(t, Options{MaxAttrs: 3})
	for i := range 3 {
		c.PutAttr(fh(fmt.Sprint(i)), file(uint64(i), 1))
	}
	c.Attr(fh("0")) // 0 is now the most recently used; 1 the least
	c.PutAttr(fh("3"), file(3, 1))
	for _, tt := range []struct {
		fh   string
		want bool
	}{{"0", true}, {"1", false}, {"2", true}, {"3", true}} {
		if _, _, ok := c.Attr(fh(tt.fh)); ok != tt.want {
			t.Errorf("Attr(%s): ok = %v; want %v", tt.fh, ok, tt.want)
		}
	}
}

func TestNameBound(t *testing.T) {
	for _, max := range []int{1, 10, 3000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			c, _ := newTest(t, Options{MaxNames: max})
			d := fh("dir")
			c.PutAttr(d, dir(1, 1))
			for i := range 3 * max {
				name := fmt.Sprintf("n%d", i)
				if i%2 == 0 {
					c.PutName(d, name, fh("h"+name))
				} else {
					c.PutNegative(d, name)
				}
				if n := c.Stats().NameEntries; n > int64(max) {
					t.Fatalf("after %d inserts: NameEntries = %d; want at most %d", i+1, n, max)
				}
			}
			if _, ok := c.Lookup(d, fmt.Sprintf("n%d", 3*max-1)); !ok {
				t.Errorf("the last name inserted was evicted; want it cached")
			}
		})
	}
}

func TestNameLRU(t *testing.T) {
	c, _ := newTest(t, Options{MaxNames: 2})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	c.PutName(d, "a", fh("fa"))
	c.PutName(d, "b", fh("fb"))
	c.Lookup(d, "a")
	c.PutName(d, "c", fh("fc"))
	for _, tt := range []struct {
		name string
		want bool
	}{{"a", true}, {"b", false}, {"c", true}} {
		if _, ok := c.Lookup(d, tt.name); ok != tt.want {
			t.Errorf("Lookup(%s): ok = %v; want %v", tt.name, ok, tt.want)
		}
	}
}

// Names invalidated by a directory change are dropped when met, so they
// do not hold space until evicted.
func TestStaleNamesDropped(t *testing.T) {
	c, _ := newTest(t, Options{})
	d := fh("dir")
	c.PutAttr(d, dir(1, 1))
	c.PutName(d, "a", fh("fa"))
	c.PutAttr(d, dir(1, 2))
	c.Lookup(d, "a")
	if n := c.Stats().NameEntries; n != 0 {
		t.Errorf("NameEntries after a lookup of an invalid name = %d; want 0", n)
	}
}

// Invalidate finds the names leading to a handle through the shard of
// the (directory, name) held as strings; it must be the shard PutName
// used.
func TestNameShardStable(t *testing.T) {
	c, _ := newTest(t, Options{MaxNames: 1 << 16})
	if len(c.names) < 2 {
		t.Fatalf("len(names) = %d; want several shards", len(c.names))
	}
	for i := range 100 {
		d, n := fmt.Sprintf("dir%d", i), fmt.Sprintf("name%d", i)
		if a, b := c.nameShard([]byte(d), n), c.nameShardS(d, n); a != b {
			t.Fatalf("nameShard(%q, %q) != nameShardS", d, n)
		}
	}
	s := maphash.MakeSeed()
	if maphash.Bytes(s, []byte("x")) != maphash.String(s, "x") {
		t.Fatalf("maphash.Bytes != maphash.String for the same content")
	}
}
