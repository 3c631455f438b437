package coherency

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestEndWrite: when cached attributes may stand in for a WRITE's missing
// pre-op attributes, and when not.
func TestEndWrite(t *testing.T) {
	base := file(1, 5) // size 500
	after := func(size uint64, sec uint32) nfs3.Fattr3 {
		a := base
		a.Size, a.Mtime, a.Ctime = size, nfs3.Time{Sec: sec}, nfs3.Time{Sec: sec}
		return a
	}
	noPre := func(a nfs3.Fattr3) nfs3.WccData { return nfs3.WccData{After: nfs3.PostOpAttr{Set: true, Attr: a}} }
	tests := []struct {
		name      string
		cached    bool
		age       time.Duration  // clock moved after caching, before the write
		between   func(c *Cache) // between BeginWrite and EndWrite
		st        nfs3.Stat
		off       uint64
		count     uint32
		w         nfs3.WccData
		wantStand bool
	}{
		{name: "overwrite inside", cached: true, off: 10, count: 100, w: noPre(after(500, 6)), wantStand: true},
		{name: "append", cached: true, off: 500, count: 100, w: noPre(after(600, 6)), wantStand: true},
		{name: "past the end", cached: true, off: 1000, count: 1, w: noPre(after(1001, 6)), wantStand: true},
		{name: "same tick", cached: true, off: 0, count: 1, w: noPre(after(500, 5)), wantStand: true},
		{name: "size grew by someone else", cached: true, off: 10, count: 100, w: noPre(after(700, 6))},
		{name: "size shrank", cached: true, off: 10, count: 100, w: noPre(after(400, 6))},
		{name: "short write counted", cached: true, off: 500, count: 50, w: noPre(after(600, 6))},
		{name: "time went back", cached: true, off: 10, count: 1, w: noPre(after(500, 4))},
		{name: "other file", cached: true, off: 10, count: 1, w: noPre(func() nfs3.Fattr3 { a := after(500, 6); a.FileID = 2; return a }())},
		{name: "nothing cached", off: 10, count: 1, w: noPre(after(500, 6))},
		{name: "cached attributes expired", cached: true, age: time.Hour, off: 10, count: 1, w: noPre(after(500, 6))},
		{name: "error", cached: true, st: nfs3.StatNoSpc, off: 10, count: 1, w: noPre(after(500, 6))},
		{name: "no post-op", cached: true, off: 10, count: 1},
		{name: "pre-op sent", cached: true, off: 10, count: 1, w: wcc(base, after(500, 6))},
		{name: "changed meanwhile", cached: true, off: 10, count: 1, w: noPre(after(500, 6)),
			between: func(c *Cache) { c.PutAttr(fh("f"), after(500, 7)) }},
		{name: "concurrent write", cached: true, off: 10, count: 1, w: noPre(after(500, 6)),
			between: func(c *Cache) {
				t2 := c.BeginWrite(fh("f"))
				w2 := noPre(after(500, 6))
				c.EndWrite(t2, nfs3.StatOK, 20, 1, &w2)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTest(t, Options{Mode: ModeTTL, AcRegMin: time.Minute, AcRegMax: time.Minute})
			if tt.cached {
				c.PutAttr(fh("f"), base)
			}
			clk.Advance(tt.age)
			tok := c.BeginWrite(fh("f"))
			if tt.between != nil {
				tt.between(c)
			}
			w := tt.w
			got := c.EndWrite(tok, tt.st, tt.off, tt.count, &w)
			if got != tt.wantStand {
				t.Fatalf("EndWrite = %v; want %v", got, tt.wantStand)
			}
			switch {
			case got && (!w.Before.Set || w.Before.Attr != (nfs3.WccAttr{Size: base.Size, Mtime: base.Mtime, Ctime: base.Ctime})):
				t.Fatalf("stand-in pre-op %+v; want the cached attributes", w.Before)
			case !got && w != tt.w:
				t.Fatalf("WCC data changed to %+v without a stand-in", w)
			}
			if got && !c.ApplyWcc(fh("f"), w) {
				t.Fatal("ApplyWcc with the stand-in: not ours")
			}
			if len(c.writes.m) != 0 {
				t.Fatalf("%d handles still tracked after every write ended", len(c.writes.m))
			}
		})
	}
}

// TestEndWriteSequential: a run of writes one after another keeps the
// cache, each one's post-op attributes standing in for the next one's
// pre-op ones; the window resets once the concurrent ones ended.
func TestEndWriteSequential(t *testing.T) {
	c, _ := newTest(t, Options{Mode: ModeCTO})
	a := file(1, 0)
	c.PutAttr(fh("f"), a)
	for i := range 10 {
		tok := c.BeginWrite(fh("f"))
		next := a
		next.Size, next.Mtime, next.Ctime = a.Size+100, nfs3.Time{Sec: uint32(i + 1)}, nfs3.Time{Sec: uint32(i + 1)}
		w := nfs3.WccData{After: nfs3.PostOpAttr{Set: true, Attr: next}}
		if !c.EndWrite(tok, nfs3.StatOK, a.Size, 100, &w) {
			t.Fatalf("write %d: no stand-in", i)
		}
		if !c.ApplyWcc(fh("f"), w) {
			t.Fatalf("write %d: not ours", i)
		}
		a = next
	}
	if s := c.Stats(); s.WccStandIns != 10 || s.WccOurs != 10 {
		t.Fatalf("WccStandIns, WccOurs = %d, %d; want 10, 10", s.WccStandIns, s.WccOurs)
	}
}

// TestStandInUnderConcurrency: writes to one file from many goroutines,
// executed in some order by a simulated upstream that sends no pre-op
// attributes, with GETATTR replies racing them. Whenever AfterChange
// keeps the data, the pre-op attributes it stands in must be the file's
// version right before that write executed: anything else would apply
// the write to the wrong bytes.
func TestStandInUnderConcurrency(t *testing.T) {
	c, _ := newTest(t, Options{Mode: ModeTTL, AcRegMin: time.Hour, AcRegMax: time.Hour})
	var (
		mu   sync.Mutex // guards cur and tick: the upstream
		cur             = file(1, 1)
		tick uint32     = 1
	)
	c.PutAttr(fh("f"), cur)
	var wg sync.WaitGroup
	var kept, bad atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if (g+i)%5 == 0 { // a GETATTR whose reply is handled late
					mu.Lock()
					a := cur
					mu.Unlock()
					c.PutAttr(fh("f"), a)
					continue
				}
				tok := c.BeginWrite(fh("f"))
				mu.Lock()
				pre := nfs3.WccAttr{Size: cur.Size, Mtime: cur.Mtime, Ctime: cur.Ctime}
				off := uint64((g*7919 + i*104729) % 1000)
				if i%3 == 0 {
					off = cur.Size // append
				}
				const count = 100
				tick++
				cur.Size = max(cur.Size, off+count)
				cur.Mtime, cur.Ctime = nfs3.Time{Sec: tick}, nfs3.Time{Sec: tick}
				post := cur
				mu.Unlock()
				eff := c.AfterChange(&Change{Proc: nfs3.ProcWrite, Obj: fh("f"), Write: &tok, Offset: off, Count: count,
					ObjWcc: nfs3.WccData{After: nfs3.PostOpAttr{Set: true, Attr: post}}})
				if eff.KeepData {
					kept.Add(1)
					if eff.Pre != pre {
						bad.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d kept writes had a stand-in that was not the version before them", bad.Load(), kept.Load())
	}
	if len(c.writes.m) != 0 {
		t.Fatalf("%d handles still tracked", len(c.writes.m))
	}
	t.Logf("%d writes kept the cache", kept.Load())
}
