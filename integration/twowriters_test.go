package integration

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestTwoWriters: one client through the proxy, another writing ganesha
// directly (a second NFS client). Each mode keeps its promise about when
// the proxy shows the other writer's change:
//   - cto: at the next GETATTR (the open), even for a same-size overwrite
//     whose mtime the other writer set back (only ctime tells: the proxy's
//     version is fileid, type, size, mtime and ctime);
//   - ttl: not before the minimum TTL, at the latest after the maximum
//     (acregmax for the file, acdirmax for a name in a directory);
//   - static: not until `cache invalidate` (InvalidateAll, what the
//     command asks the running proxy for), then at once.
//
// The TTLs run on a fake clock the test moves, so "within the TTL" is
// checked at its exact bounds rather than by sleeping.
func TestTwoWriters(t *testing.T) {
	const min, max = 3 * time.Second, time.Minute
	for _, mode := range []coherency.Mode{coherency.ModeCTO, coherency.ModeTTL, coherency.ModeStatic} {
		t.Run(mode.String(), func(t *testing.T) {
			clk := clockwork.NewFakeClock()
			e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{Mode: mode, Clock: clk,
				AcRegMin: min, AcRegMax: max, AcDirMin: min, AcDirMax: max}})
			c, d := e.proxyClient(0, 0), e.directClient(0, 0)
			old := make([]byte, 600_000)
			rand.Read(old)
			dfh, st := d.create(d.root(), "f", 0o644)
			if st != nfs3.StatOK {
				t.Fatal(st)
			}
			writeChunks(t, d, dfh, 0, old, nfs3.FileSync)

			fh := c.mustLookup(c.root(), "f")
			if _, st := c.lookup(c.root(), "new"); st != nfs3.StatNoEnt {
				t.Fatalf("lookup of new before the other writer: %v; want NOENT", st)
			}
			before, _ := c.getattr(fh)
			if got := c.readAll(fh); !bytes.Equal(got, old) {
				t.Fatal("first read differs")
			}
			clk.Advance(time.Millisecond) // the cached state's age starts here

			// The other writer: a same-size overwrite with the old mtime
			// put back, and a new name in the directory. The file clock
			// ticks first, so the ctime changes.
			waitMtimeTick(t, filepath.Join(e.g.Dir, "f"))
			changed := bytes.Clone(old)
			copy(changed[300_000:], bytes.Repeat([]byte("OTHER WRITER "), 100))
			writeChunks(t, d, dfh, 300_000, changed[300_000:301_300], nfs3.FileSync)
			sa, err := d.c.Setattr(d.ctx, &d.cred, &nfs3.SetattrArgs{Object: dfh, New: nfs3.Sattr3{
				Mtime: nfs3.SetTime{How: nfs3.SetToClientTime, Time: before.Mtime}}})
			if err != nil || sa.Status != nfs3.StatOK {
				t.Fatalf("direct setattr of mtime: %v %v", err, sa.Status)
			}
			if _, st := d.create(d.root(), "new", 0o644); st != nfs3.StatOK {
				t.Fatal(st)
			}
			now, _ := d.getattr(dfh)
			if now.Size != before.Size || now.Mtime != before.Mtime || now.Ctime == before.Ctime {
				t.Fatalf("direct attributes size %d mtime %v ctime %v; want size %d, mtime %v and a ctime other than %v",
					now.Size, now.Mtime, now.Ctime, before.Size, before.Mtime, before.Ctime)
			}

			// seen reports whether the proxy shows the other writer's
			// change, checking that it shows all of it or none.
			seen := func() bool {
				t.Helper()
				a, st := c.getattr(fh)
				if st != nfs3.StatOK {
					t.Fatal(st)
				}
				data := c.readAll(fh)
				_, lst := c.lookup(c.root(), "new")
				switch {
				case a.Ctime == now.Ctime && bytes.Equal(data, changed):
				case a.Ctime == before.Ctime && bytes.Equal(data, old):
					return false
				default:
					t.Fatalf("proxy shows ctime %v (old %v, new %v), new bytes %v, old bytes %v",
						a.Ctime, before.Ctime, now.Ctime, bytes.Equal(data, changed), bytes.Equal(data, old))
				}
				// The name: cto revalidates the directory only when its
				// attributes are asked for (a client's open of it).
				if mode == coherency.ModeCTO {
					c.getattr(c.root())
					_, lst = c.lookup(c.root(), "new")
				}
				if lst != nfs3.StatOK {
					t.Fatalf("file change seen but lookup of new: %v; want OK", lst)
				}
				return true
			}

			switch mode {
			case coherency.ModeCTO:
				if !seen() {
					t.Fatal("cto: the next GETATTR does not show the other writer's change")
				}
			case coherency.ModeTTL:
				clk.Advance(min - 2*time.Millisecond)
				if seen() {
					t.Fatal("ttl: change shown before the minimum TTL passed; want the cached version")
				}
				clk.Advance(max)
				if !seen() {
					t.Fatal("ttl: change not shown after the maximum TTL")
				}
			case coherency.ModeStatic:
				clk.Advance(24 * time.Hour)
				if seen() {
					t.Fatal("static: change shown without an invalidation")
				}
				e.srv.Meta(testVolume).InvalidateAll(coherency.CauseExplicit)
				if !seen() {
					t.Fatal("static: change not shown after cache invalidate")
				}
			}
		})
	}
}
