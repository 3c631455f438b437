package coherency

import (
	"fmt"
	"testing"
)

func benchCache(b *testing.B) *Cache {
	c, err := New(Options{Mode: ModeStatic})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// handle returns a 32-byte handle, the size knfsd and ganesha typically
// hand out.
func handle(i int) []byte { return []byte(fmt.Sprintf("%032d", i)) }

func BenchmarkAttrHit(b *testing.B) {
	c := benchCache(b)
	h := handle(1)
	c.PutAttr(h, file(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, fresh, _ := c.Attr(h); !fresh {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLookupHit(b *testing.B) {
	c := benchCache(b)
	d := handle(1)
	c.PutAttr(d, dir(1, 1))
	c.PutName(d, "some-file.dat", handle(2))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Lookup(d, "some-file.dat"); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkAttrHitParallel(b *testing.B) {
	c := benchCache(b)
	hs := make([][]byte, 1024)
	for i := range hs {
		hs[i] = handle(i)
		c.PutAttr(hs[i], file(uint64(i), 1))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Attr(hs[i%len(hs)])
			i++
		}
	})
}

func BenchmarkReaddirplusHit(b *testing.B) {
	c := benchCache(b)
	d := handle(1)
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("file%03d", i)
	}
	c.PutReaddirplus(d, plusArgs(0, 32768), plusReply(dir(1, 1), names...))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Readdirplus(d, plusArgs(0, 32768)); !ok {
			b.Fatal("miss")
		}
	}
}

// TestHitsDoNotAllocate checks the hit paths' allocation counts (not
// their speed).
func TestHitsDoNotAllocate(t *testing.T) {
	c, _ := newTest(t, Options{MaxAttrs: 1 << 18, MaxNames: 1 << 18}) // sharded
	d, f := handle(1), handle(2)
	c.PutAttr(d, dir(1, 1))
	c.PutAttr(f, file(2, 1))
	c.PutName(d, "some-file.dat", f)
	c.PutAccess(f, testCred(1), 1, 1)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Attr", func() { c.Attr(f) }},
		{"Lookup", func() { c.Lookup(d, "some-file.dat") }},
		{"Access", func() { c.Access(f, testCred(1), 1) }},
		{"Stats", func() { c.Stats() }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
			t.Errorf("%s: %v allocs per hit; want 0", tt.name, got)
		}
	}
}
