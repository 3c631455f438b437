package integration

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// The model-based differential test: a seeded generator of operation
// sequences runs each sequence directly against ganesha (in one directory)
// and through the proxy (in another directory of the same export), and
// compares every reply — status, data, attributes except times and
// identities, listings as sets — step by step. Only this test's own
// operations change anything, so in every coherency mode the proxy must
// answer exactly as ganesha does: what a mode may leave stale is other
// writers' changes, never the proxy's own.
//
// NFSCACHEPROXY_MODEL_STEPS (default 300) and NFSCACHEPROXY_MODEL_SEEDS
// (comma-separated, default "1,2") widen it; make stress runs it longer.

// modelPaths is the universe of names the generator draws from: a few at
// the top and a few inside names that may or may not be directories, so
// NOTDIR, NOENT, EXIST and NOTEMPTY come up as often as success.
var modelPaths = []string{"a", "b", "c", "d", "e", "a/x", "a/y", "b/x", "b/y", "c/x"}

// modelOp is one generated operation.
type modelOp struct {
	kind     string
	p, q     string
	off, n   uint64
	mode     uint32
	dataSeed uint64
}

func (o modelOp) String() string {
	switch o.kind {
	case "write", "read":
		return fmt.Sprintf("%s %s @%d+%d", o.kind, o.p, o.off, o.n)
	case "truncate":
		return fmt.Sprintf("truncate %s %d", o.p, o.n)
	case "chmod":
		return fmt.Sprintf("chmod %s %o", o.p, o.mode)
	case "link", "rename":
		return fmt.Sprintf("%s %s %s", o.kind, o.p, o.q)
	}
	return o.kind + " " + o.p
}

// genModelOps returns n operations from seed.
func genModelOps(seed uint64, n int) []modelOp {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func() string { return modelPaths[r.IntN(len(modelPaths))] }
	kinds := []struct {
		kind   string
		weight int
	}{
		{"create", 8}, {"mkdir", 5}, {"write", 10}, {"read", 10}, {"truncate", 4}, {"chmod", 3},
		{"link", 4}, {"rename", 6}, {"remove", 5}, {"rmdir", 3}, {"list", 6}, {"lookup", 8},
		{"getattr", 10},
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	ops := make([]modelOp, n)
	for i := range ops {
		x := r.IntN(total)
		var kind string
		for _, k := range kinds {
			if x < k.weight {
				kind = k.kind
				break
			}
			x -= k.weight
		}
		o := modelOp{kind: kind, p: pick(), q: pick(), dataSeed: r.Uint64()}
		switch kind {
		case "write", "read":
			// Offsets around granule (256 KiB) and page boundaries.
			o.off = []uint64{0, 100, 4096, 256<<10 - 10, 256 << 10, 300 << 10}[r.IntN(6)]
			o.n = []uint64{1, 10, 4096, 5000, 64 << 10}[r.IntN(5)]
		case "truncate":
			o.n = []uint64{0, 1, 4095, 256 << 10, 400 << 10}[r.IntN(5)]
		case "chmod":
			o.mode = []uint32{0o644, 0o600, 0o755, 0o700}[r.IntN(4)]
		case "list":
			if r.IntN(2) == 0 {
				o.p = "." // the test's own directory
			}
		}
		ops[i] = o
	}
	return ops
}

// modelSide runs operations with one client inside its own directory.
type modelSide struct {
	t    *testing.T
	n    *nfsClient
	top  nfs3.FH
	held map[string]nfs3.FH // path -> handle last created or looked up there
}

func newModelSide(t *testing.T, n *nfsClient, dir string) *modelSide {
	top, st := n.mkdir(n.root(), dir)
	if st != nfs3.StatOK {
		t.Fatalf("mkdir %s: %v", dir, st)
	}
	return &modelSide{t: t, n: n, top: top, held: map[string]nfs3.FH{}}
}

// normAttr is the part of a fattr3 that does not depend on timing or on
// which directory the object lives in.
func normAttr(a *nfs3.Fattr3) string {
	s := fmt.Sprintf("type %d mode %o nlink %d uid %d gid %d", a.Type, a.Mode&0o7777, a.Nlink, a.UID, a.GID)
	if a.Type != nfs3.TypeDir {
		s += fmt.Sprintf(" size %d", a.Size)
	}
	return s
}

func modelPostOp(p nfs3.PostOpAttr) string {
	if !p.Set {
		return "-"
	}
	return normAttr(&p.Attr)
}

// resolve walks p from the side's directory, one LOOKUP per component.
func (m *modelSide) resolve(p string) (nfs3.FH, nfs3.Stat) {
	fh := m.top
	if p == "." {
		return fh, nfs3.StatOK
	}
	for _, c := range strings.Split(p, "/") {
		var st nfs3.Stat
		if fh, st = m.n.lookup(fh, c); st != nfs3.StatOK {
			return nil, st
		}
	}
	return fh, nfs3.StatOK
}

// parent resolves the directory of p and returns it with p's last name.
func (m *modelSide) parent(p string) (nfs3.FH, string, nfs3.Stat) {
	dir, name := path.Split(p)
	if dir == "" {
		return m.top, name, nfs3.StatOK
	}
	fh, st := m.resolve(strings.TrimSuffix(dir, "/"))
	return fh, name, st
}

func modelData(seed uint64, n uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// run performs o and describes what the server answered.
func (m *modelSide) run(o modelOp) string {
	n := m.n
	switch o.kind {
	case "create", "mkdir":
		dir, name, st := m.parent(o.p)
		if st != nfs3.StatOK {
			return "parent " + st.String()
		}
		if o.kind == "mkdir" {
			res, err := n.c.Mkdir(n.ctx, &n.cred, &nfs3.MkdirArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: name}, Attr: nfs3.Sattr3{SetMode: true, Mode: 0o755}})
			if err != nil {
				m.t.Fatalf("mkdir: %v", err)
			}
			if res.Status == nfs3.StatOK {
				m.held[o.p] = res.Obj.FH
			}
			return res.Status.String() + " " + modelPostOp(res.ObjAttr)
		}
		res, err := n.c.Create(n.ctx, &n.cred, &nfs3.CreateArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: name}, Mode: nfs3.CreateGuarded,
			Attr: nfs3.Sattr3{SetMode: true, Mode: 0o644}})
		if err != nil {
			m.t.Fatalf("create: %v", err)
		}
		if res.Status == nfs3.StatOK {
			m.held[o.p] = res.Obj.FH
		}
		return res.Status.String() + " " + modelPostOp(res.ObjAttr)
	case "write":
		fh, st := m.resolve(o.p)
		if st != nfs3.StatOK {
			return "resolve " + st.String()
		}
		res := n.write(fh, o.off, modelData(o.dataSeed, o.n), nfs3.FileSync)
		if res.Status != nfs3.StatOK {
			return res.Status.String()
		}
		return fmt.Sprintf("OK %d %s", res.Count, modelPostOp(res.Wcc.After))
	case "read":
		fh, st := m.resolve(o.p)
		if st != nfs3.StatOK {
			return "resolve " + st.String()
		}
		res := n.read(fh, o.off, uint32(o.n))
		if res.Status != nfs3.StatOK {
			return res.Status.String()
		}
		return fmt.Sprintf("OK %d eof %v %x %s", len(res.Data), res.EOF, sha256.Sum256(res.Data), modelPostOp(res.Attr))
	case "truncate", "chmod":
		fh, st := m.resolve(o.p)
		if st != nfs3.StatOK {
			return "resolve " + st.String()
		}
		a := nfs3.SetattrArgs{Object: fh}
		if o.kind == "truncate" {
			a.New.SetSize, a.New.Size = true, o.n
		} else {
			a.New.SetMode, a.New.Mode = true, o.mode
		}
		res, err := n.c.Setattr(n.ctx, &n.cred, &a)
		if err != nil {
			m.t.Fatalf("setattr: %v", err)
		}
		return res.Status.String() + " " + modelPostOp(res.Wcc.After)
	case "link":
		fh, st := m.resolve(o.p)
		if st != nfs3.StatOK {
			return "resolve " + st.String()
		}
		dir, name, st := m.parent(o.q)
		if st != nfs3.StatOK {
			return "parent " + st.String()
		}
		res, err := n.c.Link(n.ctx, &n.cred, &nfs3.LinkArgs{File: fh, Link: nfs3.DirOpArgs{Dir: dir, Name: name}})
		if err != nil {
			m.t.Fatalf("link: %v", err)
		}
		return res.Status.String() + " " + modelPostOp(res.FileAttr)
	case "rename":
		from, fname, st := m.parent(o.p)
		if st != nfs3.StatOK {
			return "parent " + st.String()
		}
		to, tname, st := m.parent(o.q)
		if st != nfs3.StatOK {
			return "parent " + st.String()
		}
		res, err := n.c.Rename(n.ctx, &n.cred, &nfs3.RenameArgs{From: nfs3.DirOpArgs{Dir: from, Name: fname}, To: nfs3.DirOpArgs{Dir: to, Name: tname}})
		if err != nil {
			m.t.Fatalf("rename: %v", err)
		}
		return res.Status.String()
	case "remove", "rmdir":
		dir, name, st := m.parent(o.p)
		if st != nfs3.StatOK {
			return "parent " + st.String()
		}
		var rst nfs3.Stat
		if o.kind == "remove" {
			res, err := n.c.Remove(n.ctx, &n.cred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: dir, Name: name}})
			if err != nil {
				m.t.Fatalf("remove: %v", err)
			}
			rst = res.Status
		} else {
			res, err := n.c.Rmdir(n.ctx, &n.cred, &nfs3.RmdirArgs{Object: nfs3.DirOpArgs{Dir: dir, Name: name}})
			if err != nil {
				m.t.Fatalf("rmdir: %v", err)
			}
			rst = res.Status
		}
		return rst.String()
	case "list":
		fh, st := m.resolve(o.p)
		if st != nfs3.StatOK {
			return "resolve " + st.String()
		}
		return m.list(fh)
	case "lookup":
		fh, st := m.resolve(o.p)
		if st != nfs3.StatOK {
			return st.String()
		}
		m.held[o.p] = fh
		a, st := n.getattr(fh)
		return st.String() + " " + normAttr(&a)
	case "getattr":
		// The handle last bound to p, which may since have been removed,
		// renamed or replaced: what a client holding it would see.
		fh, ok := m.held[o.p]
		if !ok {
			return "not held"
		}
		a, st := n.getattr(fh)
		if st != nfs3.StatOK {
			return st.String()
		}
		return "OK " + normAttr(&a)
	}
	m.t.Fatalf("unknown op %q", o.kind)
	return ""
}

// list reads the whole directory with READDIRPLUS in small pages and
// describes it as a sorted set of names with their attributes.
func (m *modelSide) list(dir nfs3.FH) string {
	n := m.n
	var entries []string
	a := nfs3.ReaddirplusArgs{Dir: dir, DirCount: 512, MaxCount: 4096}
	for range 1000 {
		res, err := n.c.Readdirplus(n.ctx, &n.cred, &a)
		if err != nil {
			m.t.Fatalf("readdirplus: %v", err)
		}
		if res.Status != nfs3.StatOK {
			return res.Status.String()
		}
		for _, e := range res.Entries {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			entries = append(entries, e.Name+" "+modelPostOp(e.Attr))
			a.Cookie = e.Cookie
		}
		a.CookieVerf = res.CookieVerf
		if res.EOF {
			slices.Sort(entries)
			return "OK [" + strings.Join(entries, "; ") + "]"
		}
	}
	m.t.Fatal("READDIRPLUS never reached EOF")
	return ""
}

// modelSettings reads the step count and seeds from the environment.
func modelSettings(t *testing.T) (steps int, seeds []uint64) {
	steps = 300
	if s := os.Getenv("NFSCACHEPROXY_MODEL_STEPS"); s != "" {
		var err error
		if steps, err = strconv.Atoi(s); err != nil {
			t.Fatalf("NFSCACHEPROXY_MODEL_STEPS=%q: %v", s, err)
		}
	}
	seedList := "1,2"
	if s := os.Getenv("NFSCACHEPROXY_MODEL_SEEDS"); s != "" {
		seedList = s
	}
	for _, f := range strings.Split(seedList, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("NFSCACHEPROXY_MODEL_SEEDS=%q: %v", seedList, err)
		}
		seeds = append(seeds, v)
	}
	return steps, seeds
}

// TestModelDifferential runs generated sequences directly and through the
// proxy, with a data cache, in every coherency mode, and requires every
// answer to match. On a mismatch it prints the seed and the operations up
// to the first differing one (the shortest failing prefix).
func TestModelDifferential(t *testing.T) {
	steps, seeds := modelSettings(t)
	const ttl = time.Hour // only the proxy's own operations change anything
	for _, mode := range []coherency.Mode{coherency.ModeCTO, coherency.ModeTTL, coherency.ModeStatic} {
		t.Run(mode.String(), func(t *testing.T) {
			e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{Mode: mode,
				AcRegMin: ttl, AcRegMax: ttl, AcDirMin: ttl, AcDirMax: ttl}})
			direct, viaProxy := e.directClient(1000, 1000), e.proxyClient(1000, 1000)
			// The export's root belongs to root; the test's directories to uid 1000.
			rootDirect := e.directClient(0, 0)
			for _, seed := range seeds {
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
					for _, name := range []string{fmt.Sprintf("model-direct-%d", seed), fmt.Sprintf("model-proxy-%d", seed)} {
						dir, st := rootDirect.mkdir(rootDirect.root(), name)
						if st != nfs3.StatOK {
							t.Fatalf("mkdir %s: %v", name, st)
						}
						res, err := rootDirect.c.Setattr(rootDirect.ctx, &rootDirect.cred, &nfs3.SetattrArgs{Object: dir,
							New: nfs3.Sattr3{SetUID: true, UID: 1000, SetGID: true, GID: 1000}})
						if err != nil || res.Status != nfs3.StatOK {
							t.Fatalf("chown %s: %v %v", name, err, res.Status)
						}
					}
					d := &modelSide{t: t, n: direct, held: map[string]nfs3.FH{}}
					d.top = direct.mustLookup(direct.root(), fmt.Sprintf("model-direct-%d", seed))
					p := &modelSide{t: t, n: viaProxy, held: map[string]nfs3.FH{}}
					p.top = viaProxy.mustLookup(viaProxy.root(), fmt.Sprintf("model-proxy-%d", seed))
					ops := genModelOps(seed, steps)
					answers := make([]string, len(ops))
					for i, o := range ops {
						want, got := d.run(o), p.run(o)
						answers[i] = want
						if got != want {
							var prefix strings.Builder
							for j := range i + 1 {
								fmt.Fprintf(&prefix, "  %3d %-28v -> %s\n", j, ops[j], answers[j])
							}
							t.Fatalf("%v mode, seed %d, step %d (%v):\n through the proxy: %s\n directly:          %s\nshortest failing prefix:\n%s",
								mode, seed, i, o, got, want, prefix.String())
						}
					}
					t.Logf("%v mode, seed %d: %d steps, every answer the same", mode, seed, len(ops))
				})
			}
		})
	}
}
