package coherency

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// BenchmarkFullBounds measures what a volume with a million files costs
// the metadata cache (issue 14): a client stats, looks up and checks
// access to 1,000,000 files in 1,000 directories, and the cache keeps
// what its default bounds allow (MaxAttrs and MaxNames, 2^18 each). It
// reports the entries kept and the live heap they take: per volume, so a
// proxy serving several busy volumes pays it for each.
//
//	go test -run '^$' -bench FullBounds -benchtime 1x ./coherency/
func BenchmarkFullBounds(b *testing.B) {
	const dirs, perDir = 1000, 1000
	cred := rpc.CredKey{}
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapAlloc
		c, err := New(Options{Mode: ModeTTL})
		if err != nil {
			b.Fatal(err)
		}
		for d := 0; d < dirs; d++ {
			dh := []byte(fmt.Sprintf("d%031d", d))
			c.PutAttr(dh, dir(uint64(d), 1))
			for f := 0; f < perDir; f++ {
				i := d*perDir + f
				fh := handle(i + dirs)
				c.PutName(dh, fmt.Sprintf("file-%07d.dat", i), fh)
				c.PutAttr(fh, file(uint64(i+dirs), 1))
				c.PutAccess(fh, cred, 0x3f, 0x1f)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap := int64(ms.HeapAlloc) - int64(heap0)
		st := c.Stats()
		kept := st.AttrEntries + st.NameEntries
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(st.AttrEntries), "attrs")
		b.ReportMetric(float64(st.NameEntries), "names")
		b.ReportMetric(float64(heap)/float64(max(kept, 1)), "B/entry")
		runtime.KeepAlive(c)
	}
}
