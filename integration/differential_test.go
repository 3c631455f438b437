package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// transcript records the outcome of each step of a workload: statuses, data
// digests and attributes without times, fileids or fsid (which differ
// between two runs by nature).
type transcript struct {
	lines []string
}

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

func attrString(a nfs3.Fattr3) string {
	return fmt.Sprintf("type=%d mode=%04o nlink=%d uid=%d gid=%d size=%d rdev=%d,%d",
		a.Type, a.Mode, a.Nlink, a.UID, a.GID, a.Size, a.Rdev.Major, a.Rdev.Minor)
}

func postOp(p nfs3.PostOpAttr) string {
	if !p.Set {
		return "attr=none"
	}
	return attrString(p.Attr)
}

// differentialWorkload runs the scripted workload in a fresh directory
// named base under the root and returns what it saw.
func differentialWorkload(t *testing.T, n *nfsClient, base string) *transcript {
	tr := &transcript{}
	ctx, cred, c := n.ctx, &n.cred, n.c
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: transport error %v", what, err)
		}
	}
	dir, st := n.mkdir(n.root(), base)
	tr.add("mkdir base: %v", st)

	// create, write, read, truncate by SETATTR
	f, st := n.create(dir, "f", 0o644)
	tr.add("create f: %v", st)
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	w := n.write(f, 0, data, nfs3.FileSync)
	tr.add("write f: %v count=%d committed=%v %s", w.Status, w.Count, w.Committed, postOp(w.Wcc.After))
	got := n.readAll(f)
	tr.add("read f: equal=%v len=%d", bytes.Equal(got, data), len(got))
	sa, err := c.Setattr(ctx, cred, &nfs3.SetattrArgs{Object: f, New: nfs3.Sattr3{SetSize: true, Size: 5000}})
	check("setattr size", err)
	tr.add("truncate f: %v wcc.before=%v %s", sa.Status, sa.Wcc.Before.Set, postOp(sa.Wcc.After))
	attr, st := n.getattr(f)
	tr.add("getattr f: %v %s", st, attrString(attr))

	// guarded SETATTR with a stale guard
	sa, err = c.Setattr(ctx, cred, &nfs3.SetattrArgs{Object: f, New: nfs3.Sattr3{SetMode: true, Mode: 0o600},
		Guard: true, GuardCtime: nfs3.Time{Sec: 1, Nsec: 2}})
	check("guarded setattr", err)
	tr.add("guarded setattr stale: %v %s", sa.Status, postOp(sa.Wcc.After))
	sa, err = c.Setattr(ctx, cred, &nfs3.SetattrArgs{Object: f, New: nfs3.Sattr3{SetMode: true, Mode: 0o600},
		Guard: true, GuardCtime: attr.Ctime})
	check("guarded setattr", err)
	tr.add("guarded setattr current: %v %s", sa.Status, postOp(sa.Wcc.After))

	// exclusive create, twice with the same verifier, then another
	verf := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	for i, v := range [][8]byte{verf, verf, {9, 9, 9, 9, 9, 9, 9, 9}} {
		cr, err := c.Create(ctx, cred, &nfs3.CreateArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: "ex"}, Mode: nfs3.CreateExclusive, Verf: v})
		check("exclusive create", err)
		tr.add("exclusive create %d: %v fh=%v", i, cr.Status, cr.Obj.Set)
	}
	// guarded create of an existing name
	cr, err := c.Create(ctx, cred, &nfs3.CreateArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: "f"}, Mode: nfs3.CreateGuarded})
	check("guarded create", err)
	tr.add("guarded create existing: %v", cr.Status)

	// rename over an existing file
	g, st := n.create(dir, "g", 0o644)
	tr.add("create g: %v", st)
	n.write(g, 0, []byte("old g"), nfs3.FileSync)
	rn, err := c.Rename(ctx, cred, &nfs3.RenameArgs{From: nfs3.DirOpArgs{Dir: dir, Name: "f"}, To: nfs3.DirOpArgs{Dir: dir, Name: "g"}})
	check("rename", err)
	tr.add("rename f over g: %v from.after=%v to.after=%v", rn.Status, rn.FromDirWcc.After.Set, rn.ToDirWcc.After.Set)
	_, st = n.lookup(dir, "f")
	tr.add("lookup f after rename: %v", st)
	g = n.mustLookup(dir, "g")
	tr.add("g now holds f's data: %v", bytes.Equal(n.readAll(g), data[:5000]))
	_, st = n.getattr(g)
	tr.add("old handle of g usable: %v", st)

	// hard link
	ln, err := c.Link(ctx, cred, &nfs3.LinkArgs{File: g, Link: nfs3.DirOpArgs{Dir: dir, Name: "h"}})
	check("link", err)
	tr.add("link g h: %v %s", ln.Status, postOp(ln.FileAttr))
	attr, st = n.getattr(n.mustLookup(dir, "h"))
	tr.add("getattr h: %v nlink=%d", st, attr.Nlink)

	// symlink + readlink
	sl, err := c.Symlink(ctx, cred, &nfs3.SymlinkArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: "s"}, Attr: nfs3.Sattr3{SetMode: true, Mode: 0o777}, Path: "some/target/../path"})
	check("symlink", err)
	tr.add("symlink s: %v %s", sl.Status, postOp(sl.ObjAttr))
	rl, err := c.Readlink(ctx, cred, &nfs3.ReadlinkArgs{Object: sl.Obj.FH})
	check("readlink", err)
	tr.add("readlink s: %v %q", rl.Status, rl.Path)

	// mknod: FIFO, socket, char and block devices
	for _, m := range []struct {
		name string
		typ  nfs3.FType
	}{{"fifo", nfs3.TypeFIFO}, {"sock", nfs3.TypeSock}, {"chr", nfs3.TypeChr}, {"blk", nfs3.TypeBlk}} {
		mk, err := c.Mknod(ctx, cred, &nfs3.MknodArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: m.name}, Type: m.typ,
			Attr: nfs3.Sattr3{SetMode: true, Mode: 0o640}, Spec: nfs3.SpecData{Major: 1, Minor: 3}})
		check("mknod", err)
		tr.add("mknod %s: %v %s", m.name, mk.Status, postOp(mk.ObjAttr))
	}

	// rmdir of a non-empty directory, remove of a missing name
	sub, st := n.mkdir(dir, "sub")
	tr.add("mkdir sub: %v", st)
	_, st = n.create(sub, "x", 0o644)
	tr.add("create sub/x: %v", st)
	rd, err := c.Rmdir(ctx, cred, &nfs3.RmdirArgs{Object: nfs3.DirOpArgs{Dir: dir, Name: "sub"}})
	check("rmdir", err)
	tr.add("rmdir non-empty: %v dirwcc.after=%v", rd.Status, rd.DirWcc.After.Set)
	rm, err := c.Remove(ctx, cred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: dir, Name: "missing"}})
	check("remove", err)
	tr.add("remove missing: %v", rm.Status)
	rm, err = c.Remove(ctx, cred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: sub, Name: "x"}})
	check("remove", err)
	tr.add("remove sub/x: %v", rm.Status)
	rd, err = c.Rmdir(ctx, cred, &nfs3.RmdirArgs{Object: nfs3.DirOpArgs{Dir: dir, Name: "sub"}})
	check("rmdir", err)
	tr.add("rmdir empty: %v", rd.Status)
	_, st = n.getattr(sub)
	tr.add("getattr removed dir: %v", st)

	// ACCESS
	ac, err := c.Access(ctx, cred, &nfs3.AccessArgs{Object: g, Access: 0x3f})
	check("access", err)
	tr.add("access g: %v granted=%#x", ac.Status, ac.Access)

	// a 64 MiB file: 1 MiB UNSTABLE writes, COMMIT, random reads
	big, st := n.create(dir, "big", 0o644)
	tr.add("create big: %v", st)
	rng := rand.New(rand.NewPCG(1, 2))
	content := make([]byte, 64<<20)
	for i := 0; i < len(content); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			content[i+j] = byte(v >> (8 * j))
		}
	}
	var verfs [][8]byte
	for off := 0; off < len(content); off += 1 << 20 {
		w := n.write(big, uint64(off), content[off:off+1<<20], nfs3.Unstable)
		if w.Status != nfs3.StatOK || w.Count != 1<<20 {
			t.Fatalf("write big at %d: %v count %d", off, w.Status, w.Count)
		}
		if len(verfs) == 0 || verfs[len(verfs)-1] != w.Verf {
			verfs = append(verfs, w.Verf)
		}
	}
	cm, err := c.Commit(ctx, cred, &nfs3.CommitArgs{File: big})
	check("commit", err)
	tr.add("commit big: %v verifier matches writes: %v (distinct write verifiers %d)", cm.Status, cm.Verf == verfs[0], len(verfs))
	h := sha256.New()
	for i := 0; i < 200; i++ {
		off := rng.IntN(len(content) - 70000)
		cnt := 1 + rng.IntN(65536)
		rr := n.read(big, uint64(off), uint32(cnt))
		if rr.Status != nfs3.StatOK || !bytes.Equal(rr.Data, content[off:off+cnt]) {
			t.Fatalf("read big at %d+%d: %v, %d bytes, equal=%v", off, cnt, rr.Status, len(rr.Data), bytes.Equal(rr.Data, content[off:off+cnt]))
		}
		h.Write(rr.Data)
	}
	tr.add("random reads of big: %x", h.Sum(nil)[:8])
	rr := n.read(big, uint64(len(content)-10), 100)
	tr.add("read across EOF: %v count=%d eof=%v", rr.Status, rr.Count, rr.EOF)

	// a directory of 5000 entries, listed with small counts
	many, st := n.mkdir(dir, "many")
	tr.add("mkdir many: %v", st)
	for i := 0; i < 5000; i++ {
		if _, st := n.create(many, fmt.Sprintf("entry-%05d", i), 0o644); st != nfs3.StatOK {
			t.Fatalf("create entry %d: %v", i, st)
		}
	}
	names, pages := listReaddir(t, n, many, 1024)
	tr.add("readdir many: %d names, sorted equal=%v, pages>10=%v", len(names), namesWant(names), pages > 10)
	names, pages = listReaddirplus(t, n, many, 512, 4096)
	tr.add("readdirplus many: %d names, sorted equal=%v, pages>10=%v", len(names), namesWant(names), pages > 10)

	// FSSTAT, FSINFO, PATHCONF
	fsst, err := c.Fsstat(ctx, cred, &nfs3.FsstatArgs{Object: n.root()})
	check("fsstat", err)
	tr.add("fsstat: %v total>0=%v", fsst.Status, fsst.Tbytes > 0)
	fi, err := c.Fsinfo(ctx, cred, &nfs3.FsinfoArgs{Object: n.root()})
	check("fsinfo", err)
	tr.add("fsinfo: %v rtmax=%d wtmax=%d maxfilesize=%d props=%#x", fi.Status, min(fi.RtMax, 1<<20), min(fi.WtMax, 1<<20), fi.MaxFileSize, fi.Properties)
	pc, err := c.Pathconf(ctx, cred, &nfs3.PathconfArgs{Object: n.root()})
	check("pathconf", err)
	tr.add("pathconf: %v linkmax=%d namemax=%d notrunc=%v chown_restricted=%v case_insensitive=%v case_preserving=%v",
		pc.Status, pc.LinkMax, pc.NameMax, pc.NoTrunc, pc.ChownRestricted, pc.CaseInsensitive, pc.CasePreserving)
	return tr
}

func namesWant(names []string) bool {
	want := make([]string, 5000)
	for i := range want {
		want[i] = fmt.Sprintf("entry-%05d", i)
	}
	got := slices.Clone(names)
	slices.Sort(got)
	return slices.Equal(got, want)
}

func listReaddir(t *testing.T, n *nfsClient, dir []byte, count uint32) (names []string, pages int) {
	var cookie uint64
	var verf [8]byte
	for pages = 1; ; pages++ {
		res, err := n.c.Readdir(n.ctx, &n.cred, &nfs3.ReaddirArgs{Dir: dir, Cookie: cookie, CookieVerf: verf, Count: count})
		if err != nil || res.Status != nfs3.StatOK {
			t.Fatalf("readdir page %d: %v %v", pages, err, res.Status)
		}
		for _, e := range res.Entries {
			if e.Name != "." && e.Name != ".." {
				names = append(names, e.Name)
			}
			cookie = e.Cookie
		}
		verf = res.CookieVerf
		if res.EOF {
			return names, pages
		}
	}
}

func listReaddirplus(t *testing.T, n *nfsClient, dir []byte, dircount, maxcount uint32) (names []string, pages int) {
	var cookie uint64
	var verf [8]byte
	for pages = 1; ; pages++ {
		res, err := n.c.Readdirplus(n.ctx, &n.cred, &nfs3.ReaddirplusArgs{Dir: dir, Cookie: cookie, CookieVerf: verf, DirCount: dircount, MaxCount: maxcount})
		if err != nil || res.Status != nfs3.StatOK {
			t.Fatalf("readdirplus page %d: %v %v", pages, err, res.Status)
		}
		for _, e := range res.Entries {
			if e.Name != "." && e.Name != ".." {
				names = append(names, e.Name)
				if !e.FH.Set || !e.Attr.Set {
					t.Fatalf("readdirplus entry %s without handle or attributes", e.Name)
				}
			}
			cookie = e.Cookie
		}
		verf = res.CookieVerf
		if res.EOF {
			return names, pages
		}
	}
}

// TestDifferential runs one workload directly against ganesha and through
// the proxy and requires the same outcome.
func TestDifferential(t *testing.T) {
	e := startEnv(t)
	direct := differentialWorkload(t, e.directClient(0, 0), "direct")
	proxied := differentialWorkload(t, e.proxyClient(0, 0), "proxied")
	if len(direct.lines) != len(proxied.lines) {
		t.Fatalf("direct has %d steps, proxied %d", len(direct.lines), len(proxied.lines))
	}
	var diffs []string
	for i := range direct.lines {
		if direct.lines[i] != proxied.lines[i] {
			diffs = append(diffs, fmt.Sprintf("  direct:  %s\n  proxied: %s", direct.lines[i], proxied.lines[i]))
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("%d steps differ:\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
	t.Logf("%d steps identical; e.g.\n  %s", len(direct.lines), strings.Join(direct.lines, "\n  "))

	// Every NFSv3 procedure went through the proxy.
	st := e.srv.Stats()
	for p := uint32(1); p < 22; p++ {
		if st.Calls[p] == 0 {
			t.Errorf("procedure %s never served by the proxy", nfs3.ProcName(p))
		}
	}
}
