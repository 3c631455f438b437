package integration

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// namesEnv is a ganesha exporting <base>/export, with a proxy in front, and
// things beside the export that a name leaving it would reach: the file
// <base>/outside and the directory <base>/outside_dir.
type namesEnv struct {
	*env
	base string
	c    *rpcConn // raw RPC to the proxy, as root
	root nfs3.FH  // the proxy's root handle
}

func startNamesEnv(t *testing.T) *namesEnv {
	t.Helper()
	base := t.TempDir()
	export := filepath.Join(base, "export")
	for _, d := range []string{export, filepath.Join(base, "outside_dir"), filepath.Join(export, "d")} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(base, "outside"), filepath.Join(base, "outside_dir", "inner"), filepath.Join(export, "f")} {
		if err := os.WriteFile(f, []byte("content of "+f), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	// ganesha runs as root and exports what the test made.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{Dir: export})
	e := &env{t: t, g: g}
	e.startProxy("127.0.0.1:0")
	n := &namesEnv{env: e, base: base, c: dialRPC(t, e.addr)}
	n.root = e.proxyClient(0, 0).root()
	return n
}

// tree describes every entry under dir: type, mode, size and a hash of a
// file's content or a link's target.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" nlink %d", st.Nlink)
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// treeDiff lists the differences between two trees.
func treeDiff(before, after map[string]string) []string {
	var d []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			d = append(d, "removed "+p)
		} else if a != b {
			d = append(d, "changed "+p+": "+b+" => "+a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, "added "+p)
		}
	}
	return d
}

// statusOnly decodes the status every NFS result begins with.
type statusOnly struct{ st nfs3.Stat }

func (s *statusOnly) Decode(r *xdr.Reader) error {
	s.st = nfs3.Stat(r.Uint32())
	return r.Err()
}

// nameCase is one bad name and what the proxy must answer.
type nameCase struct {
	name    string
	garbage bool      // GARBAGE_ARGS
	status  nfs3.Stat // otherwise
}

// badNames are refused by every procedure that takes a name; dot is the
// answer for "." and ".." (zero: allowed, not tested here). Every name
// stays inside the test's own temporary directory even when an upstream
// resolves it as a path: never add one that climbs further ("../../..")
// — run against a proxy that forwards it, RENAME and REMOVE would act on
// the host's own directories.
func badNames(dot nfs3.Stat) []nameCase {
	cs := []nameCase{
		{name: "../outside", garbage: true},
		{name: "../outside_dir", garbage: true},
		{name: "../outside_dir/inner", garbage: true},
		{name: "../new_outside", garbage: true},
		{name: "a/b", garbage: true},
		{name: "evil\x00tail", garbage: true},
		{name: "", garbage: true},
		{name: strings.Repeat("n", 256), status: nfs3.StatNameTooLong},
	}
	if dot != nfs3.StatOK {
		cs = append(cs, nameCase{name: ".", status: dot}, nameCase{name: "..", status: dot})
	}
	return cs
}

// TestBadNamesRefusedAgainstGanesha sends, for each procedure that takes a
// name, the names that leave the export or are not names at all through the
// proxy to a real nfs-ganesha (which resolves "../x" as a path), and checks
// the documented answer and that nothing changed in the export or beside
// it.
func TestBadNamesRefusedAgainstGanesha(t *testing.T) {
	n := startNamesEnv(t)
	fFH := n.proxyClient(0, 0).mustLookup(n.root, "f")
	dir := func(name string) nfs3.DirOpArgs { return nfs3.DirOpArgs{Dir: n.root, Name: name} }
	sattr := nfs3.Sattr3{SetMode: true, Mode: 0o644}
	procs := []struct {
		label string
		proc  uint32
		args  func(name string) xdr.Encoder
		dot   nfs3.Stat
	}{
		{"LOOKUP", nfs3.ProcLookup, func(s string) xdr.Encoder { return &nfs3.LookupArgs{What: dir(s)} }, nfs3.StatOK},
		{"CREATE", nfs3.ProcCreate, func(s string) xdr.Encoder {
			return &nfs3.CreateArgs{Where: dir(s), Mode: nfs3.CreateUnchecked, Attr: sattr}
		}, nfs3.StatExist},
		{"MKDIR", nfs3.ProcMkdir, func(s string) xdr.Encoder { return &nfs3.MkdirArgs{Where: dir(s), Attr: sattr} }, nfs3.StatExist},
		{"SYMLINK", nfs3.ProcSymlink, func(s string) xdr.Encoder {
			return &nfs3.SymlinkArgs{Where: dir(s), Attr: sattr, Path: "/etc/passwd"}
		}, nfs3.StatExist},
		{"MKNOD", nfs3.ProcMknod, func(s string) xdr.Encoder {
			return &nfs3.MknodArgs{Where: dir(s), Type: nfs3.TypeFIFO, Attr: sattr}
		}, nfs3.StatExist},
		{"REMOVE", nfs3.ProcRemove, func(s string) xdr.Encoder { return &nfs3.RemoveArgs{Object: dir(s)} }, nfs3.StatAcces},
		{"RMDIR", nfs3.ProcRmdir, func(s string) xdr.Encoder { return &nfs3.RmdirArgs{Object: dir(s)} }, nfs3.StatAcces},
		{"RENAME-from", nfs3.ProcRename, func(s string) xdr.Encoder { return &nfs3.RenameArgs{From: dir(s), To: dir("moved_in")} }, nfs3.StatPerm},
		{"RENAME-to", nfs3.ProcRename, func(s string) xdr.Encoder { return &nfs3.RenameArgs{From: dir("f"), To: dir(s)} }, nfs3.StatPerm},
		{"LINK", nfs3.ProcLink, func(s string) xdr.Encoder { return &nfs3.LinkArgs{File: fFH, Link: dir(s)} }, nfs3.StatExist},
	}
	xid := uint32(1)
	for _, p := range procs {
		t.Run(p.label, func(t *testing.T) {
			for _, c := range badNames(p.dot) {
				before := tree(t, n.base)
				xid++
				var res statusOnly
				err := n.c.call(xid, nfs3.Program, 3, p.proc, p.args(c.name), &res)
				var re *rpc.ReplyError
				switch {
				case c.garbage:
					if !errors.As(err, &re) || re.AcceptStat != rpc.GarbageArgs {
						t.Errorf("%s %.40q: got status %v err %v; want GARBAGE_ARGS", p.label, c.name, res.st, err)
					}
				case err != nil:
					t.Errorf("%s %.40q: got %v; want %v", p.label, c.name, err, c.status)
				case res.st != c.status:
					t.Errorf("%s %.40q: got %v; want %v", p.label, c.name, res.st, c.status)
				}
				if d := treeDiff(before, tree(t, n.base)); len(d) > 0 {
					t.Errorf("%s %.40q changed the file system upstream: %s", p.label, c.name, strings.Join(d, "; "))
				}
			}
		})
	}
	if got := n.srv.Rejections().ByReason["name_slash"]; got == 0 {
		t.Errorf("rejections[name_slash]: got 0; want every refused slash counted")
	}
}

// TestLookupDotDotAtRootStaysAtRoot: LOOKUP("..") in the export's root
// through the proxy is the root itself (handle and attributes).
func TestLookupDotDotAtRootStaysAtRoot(t *testing.T) {
	n := startNamesEnv(t)
	pc := n.proxyClient(1000, 1000)
	for _, name := range []string{"..", "."} {
		fh, st := pc.lookup(n.root, name)
		if st != nfs3.StatOK || !bytes.Equal(fh, n.root) {
			t.Fatalf("proxy LOOKUP(root, %q): got %v %x; want NFS3_OK and the root %x", name, st, fh, n.root)
		}
	}
	rootAttr, _ := pc.getattr(n.root)
	res, err := pc.c.Lookup(pc.ctx, &pc.cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: n.root, Name: ".."}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.ObjAttr.Set || res.ObjAttr.Attr.FileID != rootAttr.FileID {
		t.Fatalf("proxy LOOKUP(root, \"..\") attributes: got %+v; want the root's (fileid %d)", res.ObjAttr, rootAttr.FileID)
	}
	// From a subdirectory, ".." is forwarded and leads back to the root.
	d := pc.mustLookup(n.root, "d")
	if fh, st := pc.lookup(d, ".."); st != nfs3.StatOK || !bytes.Equal(fh, n.root) {
		t.Fatalf("proxy LOOKUP(d, \"..\"): got %v %x; want the root %x", st, fh, n.root)
	}
}

// TestLongestNameWorksLikeDirect: a 255-byte name is created and found
// through the proxy as directly.
func TestLongestNameWorksLikeDirect(t *testing.T) {
	n := startNamesEnv(t)
	for _, c := range []struct {
		label string
		cl    *nfsClient
		name  string
	}{
		{"proxy", n.proxyClient(0, 0), strings.Repeat("p", 255)},
		{"direct", n.directClient(0, 0), strings.Repeat("d", 255)},
	} {
		root := c.cl.root()
		if _, st := c.cl.create(root, c.name, 0o644); st != nfs3.StatOK {
			t.Fatalf("%s CREATE of a 255-byte name: got %v; want NFS3_OK", c.label, st)
		}
		if _, st := c.cl.lookup(root, c.name); st != nfs3.StatOK {
			t.Fatalf("%s LOOKUP of a 255-byte name: got %v; want NFS3_OK", c.label, st)
		}
		if _, err := os.Stat(filepath.Join(n.g.Dir, c.name)); err != nil {
			t.Fatalf("%s: the 255-byte file upstream: %v", c.label, err)
		}
		if _, st := c.cl.lookup(root, c.name+"x"); st != nfs3.StatNameTooLong {
			t.Fatalf("%s LOOKUP of a 256-byte name: got %v; want NFS3ERR_NAMETOOLONG", c.label, st)
		}
	}
}

// TestLongSymlinkTargetRoundTrips: a 4,095-byte symlink target (Linux's
// longest) goes through SYMLINK and READLINK via the proxy as directly; a
// 4,097-byte one is NAMETOOLONG from the proxy.
func TestLongSymlinkTargetRoundTrips(t *testing.T) {
	n := startNamesEnv(t)
	var target strings.Builder
	for target.Len() < 4095 {
		target.WriteString("component/")
	}
	want := target.String()[:4095]
	for _, c := range []struct {
		label string
		cl    *nfsClient
		name  string
	}{
		{"proxy", n.proxyClient(0, 0), "via_proxy"},
		{"direct", n.directClient(0, 0), "direct"},
	} {
		res, err := c.cl.c.Symlink(c.cl.ctx, &c.cl.cred, &nfs3.SymlinkArgs{
			Where: nfs3.DirOpArgs{Dir: c.cl.root(), Name: c.name}, Attr: nfs3.Sattr3{SetMode: true, Mode: 0o777}, Path: want})
		if err != nil || res.Status != nfs3.StatOK {
			t.Fatalf("%s SYMLINK with a 4095-byte target: got %v %v; want NFS3_OK", c.label, res.Status, err)
		}
		if got, err := os.Readlink(filepath.Join(n.g.Dir, c.name)); err != nil || got != want {
			t.Fatalf("%s: the link upstream holds %d bytes (%v); want the 4095 sent", c.label, len(got), err)
		}
		fh := c.cl.mustLookup(c.cl.root(), c.name)
		rl, err := c.cl.c.Readlink(c.cl.ctx, &c.cl.cred, &nfs3.ReadlinkArgs{Object: fh})
		if err != nil || rl.Status != nfs3.StatOK || rl.Path != want {
			t.Fatalf("%s READLINK: got %v, %d bytes, err %v; want NFS3_OK and the 4095-byte target", c.label, rl.Status, len(rl.Path), err)
		}
	}
	pc := n.proxyClient(0, 0)
	res, err := pc.c.Symlink(pc.ctx, &pc.cred, &nfs3.SymlinkArgs{
		Where: nfs3.DirOpArgs{Dir: pc.root(), Name: "too_long"}, Path: strings.Repeat("t", 4097)})
	if err != nil || res.Status != nfs3.StatNameTooLong {
		t.Fatalf("proxy SYMLINK with a 4097-byte target: got %v %v; want NFS3ERR_NAMETOOLONG", res.Status, err)
	}
	if _, err := os.Lstat(filepath.Join(n.g.Dir, "too_long")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused symlink exists upstream: %v", err)
	}
}
