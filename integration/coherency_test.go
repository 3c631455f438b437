package integration

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// changeOnUpstream rewrites name directly in the exported directory with a
// different size, so the change shows in size and mtime.
func changeOnUpstream(t *testing.T, e *env, name string, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.g.Dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCoherencyModes: a change made directly on the upstream is seen on the
// next GETATTR in cto mode, within the max TTL in ttl mode, and not before
// an explicit invalidation in static mode.
func TestCoherencyModes(t *testing.T) {
	const ttl = 3 * time.Second
	tests := []struct {
		mode coherency.Mode
	}{{coherency.ModeCTO}, {coherency.ModeTTL}, {coherency.ModeStatic}}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			clk := clockwork.NewFakeClock() // the TTL runs on it: moved, not slept
			e := startEnvWith(t, envOptions{coherency: coherency.Options{Mode: tt.mode, Clock: clk,
				AcRegMin: ttl, AcRegMax: ttl, AcDirMin: ttl, AcDirMax: ttl}})
			changeOnUpstream(t, e, "f", "one")
			c := e.proxyClient(0, 0)
			fh := c.mustLookup(c.root(), "f")
			if a, _ := c.getattr(fh); a.Size != 3 {
				t.Fatalf("size %d; want 3", a.Size)
			}
			changeOnUpstream(t, e, "f", "second version")
			clk.Advance(ttl - time.Millisecond)
			a, _ := c.getattr(fh)
			switch tt.mode {
			case coherency.ModeCTO:
				if a.Size != 14 {
					t.Fatalf("cto: next GETATTR shows size %d; want 14", a.Size)
				}
				return
			case coherency.ModeTTL, coherency.ModeStatic:
				if a.Size != 3 {
					t.Fatalf("%v: GETATTR within the TTL of the change shows %d; want the cached 3", tt.mode, a.Size)
				}
			}
			clk.Advance(time.Millisecond)
			a, _ = c.getattr(fh)
			if tt.mode == coherency.ModeTTL {
				if a.Size != 14 {
					t.Fatalf("ttl: after the max TTL GETATTR shows %d; want 14", a.Size)
				}
				return
			}
			if a.Size != 3 {
				t.Fatalf("static: GETATTR after the TTL shows %d; want the cached 3 until invalidated", a.Size)
			}
			e.srv.Meta(testVolume).InvalidateAll(coherency.CauseExplicit)
			if a, _ = c.getattr(fh); a.Size != 14 {
				t.Fatalf("static: after explicit invalidation GETATTR shows %d; want 14", a.Size)
			}
		})
	}
}

// TestListingSeesNewFiles: a file created directly on the upstream appears
// in a listing started at cookie 0 through the proxy, even while the
// directory's attributes are still cached and fresh.
func TestListingSeesNewFiles(t *testing.T) {
	e := startEnvWith(t, envOptions{coherency: coherency.Options{AcDirMin: time.Hour, AcDirMax: time.Hour}})
	changeOnUpstream(t, e, "a", "a")
	c := e.proxyClient(0, 0)
	list := func() []string {
		res, err := c.c.Readdirplus(c.ctx, &c.cred, &nfs3.ReaddirplusArgs{Dir: c.root(), DirCount: 8192, MaxCount: 32768})
		if err != nil || res.Status != nfs3.StatOK {
			t.Fatalf("readdirplus: %v %v", err, res.Status)
		}
		var names []string
		for _, en := range res.Entries {
			names = append(names, en.Name)
		}
		return names
	}
	if names := list(); !slices.Contains(names, "a") {
		t.Fatalf("first listing %v lacks a", names)
	}
	before := e.up.Stats().ProcCalls[nfs3.ProcReaddirplus]
	if names := list(); !slices.Contains(names, "a") {
		t.Fatalf("second listing %v lacks a", names)
	}
	if n := e.up.Stats().ProcCalls[nfs3.ProcReaddirplus] - before; n != 0 {
		t.Fatalf("unchanged directory re-listed with %d upstream READDIRPLUS; want 0 (served from cache)", n)
	}
	waitMtimeTick(t, e.g.Dir)
	changeOnUpstream(t, e, "b", "b")
	if names := list(); !slices.Contains(names, "b") {
		t.Fatalf("listing from cookie 0 after a direct create %v lacks b", names)
	}
}

// TestOwnNamespaceOpsNeverStale: creates, renames and removes through the
// proxy are visible at once in lookups and listings, with caching on.
func TestOwnNamespaceOpsNeverStale(t *testing.T) {
	e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{AcRegMin: time.Hour, AcRegMax: time.Hour, AcDirMin: time.Hour, AcDirMax: time.Hour}})
	c := e.proxyClient(0, 0)
	if _, st := c.lookup(c.root(), "n"); st != nfs3.StatNoEnt {
		t.Fatalf("lookup before create: %v; want NOENT", st)
	}
	fh, st := c.create(c.root(), "n", 0o644)
	if st != nfs3.StatOK {
		t.Fatal(st)
	}
	if got, st := c.lookup(c.root(), "n"); st != nfs3.StatOK || string(got) != string(fh) {
		t.Fatalf("lookup after create (negative entry cached before): %v", st)
	}
	rn, err := c.c.Rename(c.ctx, &c.cred, &nfs3.RenameArgs{From: nfs3.DirOpArgs{Dir: c.root(), Name: "n"}, To: nfs3.DirOpArgs{Dir: c.root(), Name: "m"}})
	if err != nil || rn.Status != nfs3.StatOK {
		t.Fatalf("rename: %v %v", err, rn.Status)
	}
	if _, st := c.lookup(c.root(), "n"); st != nfs3.StatNoEnt {
		t.Fatalf("lookup of old name after rename: %v; want NOENT", st)
	}
	if got, st := c.lookup(c.root(), "m"); st != nfs3.StatOK || string(got) != string(fh) {
		t.Fatalf("lookup of new name after rename: %v", st)
	}
	names, _ := listReaddirplus(t, c, c.root(), 8192, 32768)
	if slices.Contains(names, "n") || !slices.Contains(names, "m") {
		t.Fatalf("listing after rename: %v; want m and not n", names)
	}
	rm, err := c.c.Remove(c.ctx, &c.cred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: c.root(), Name: "m"}})
	if err != nil || rm.Status != nfs3.StatOK {
		t.Fatalf("remove: %v %v", err, rm.Status)
	}
	if _, st := c.lookup(c.root(), "m"); st != nfs3.StatNoEnt {
		t.Fatalf("lookup after remove: %v; want NOENT", st)
	}
	if _, st := c.getattr(fh); st != nfs3.StatStale {
		t.Fatalf("getattr of removed file: %v; want STALE like the upstream", st)
	}
}

// waitMtimeTick waits until a file created now gets an mtime later than
// dir's, so that a change made next in dir gives it a new mtime (file
// times come from a coarse clock that ticks every few milliseconds).
func waitMtimeTick(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "tick")
	await.Until(t, "the file clock to tick past "+dir+"'s mtime", func() bool {
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		pi, err := os.Stat(probe)
		return err == nil && pi.ModTime().After(fi.ModTime())
	})
}
