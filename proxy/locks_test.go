package proxy

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

func TestLockFiles(t *testing.T) {
	up := &fakeUpstream{root: nfs3.FH("root-handle")}
	s, err := New(Options{Volumes: []Volume{{ID: 3, Name: "/export", Upstream: up}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lf := s.LockFiles()
	fh := appendHandle(nil, 3, []byte("file-handle"))
	vol, ufh, ok := lf.Resolve(fh)
	if !ok || vol != 3 || string(ufh) != "file-handle" {
		t.Fatalf("Resolve: got %d %q %v; want 3 file-handle true", vol, ufh, ok)
	}
	if _, _, ok := lf.Resolve(appendHandle(nil, 4, []byte("x"))); ok {
		t.Fatal("Resolve of an unknown volume: got ok; want not ok")
	}
	if _, _, ok := lf.Resolve([]byte{9, 9}); ok {
		t.Fatal("Resolve of garbage: got ok; want not ok")
	}
	if !lf.Allowed(3, netip.MustParseAddrPort("10.1.2.3:700")) {
		t.Fatal("Allowed from an open volume: got false; want true")
	}
	if err := s.SetAccess(3, Policy{Clients: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}}, false); err != nil {
		t.Fatal(err)
	}
	if lf.Allowed(3, netip.MustParseAddrPort("10.1.2.3:700")) {
		t.Fatal("Allowed from outside the volume's clients: got true; want false")
	}
	if !lf.Allowed(3, netip.MustParseAddrPort("192.168.4.5:700")) {
		t.Fatal("Allowed from inside the volume's clients: got false; want true")
	}
	if lf.Allowed(4, netip.MustParseAddrPort("192.168.4.5:700")) {
		t.Fatal("Allowed for an unknown volume: got true; want false")
	}
	meta := s.Meta(3)
	// The metadata caches are keyed by upstream handle.
	meta.PutAttr(ufh, nfs3.Fattr3{Type: nfs3.TypeReg, FileID: 7, Size: 1})
	if _, _, cached := meta.Attr(ufh); !cached {
		t.Fatal("attributes not cached before the grant")
	}
	lf.Granted(fh)
	if _, _, cached := meta.Attr(ufh); cached {
		t.Fatal("attributes still cached after a lock was granted; want dropped")
	}
}

// A volume with FSIDs refuses lock handles of objects on other upstream
// filesystems, from the cache or after one GETATTR.
func TestLockFilesForeignFSID(t *testing.T) {
	var getattrs atomic.Int32
	up := &fakeUpstream{root: nfs3.FH("root-handle"), call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
		if proc != nfs3.ProcGetattr {
			return errors.New("unexpected call")
		}
		getattrs.Add(1)
		a := args.(*nfs3.GetattrArgs)
		fsid := uint64(1)
		if string(a.Object) == "foreign" {
			fsid = 2
		}
		w := xdr.NewWriter(nil)
		(&nfs3.GetattrRes{Status: nfs3.StatOK, Attr: nfs3.Fattr3{Type: nfs3.TypeReg, FSID: fsid}}).Encode(w)
		return res.Decode(xdr.NewReader(w.Buf))
	}}
	s, err := New(Options{Volumes: []Volume{{ID: 1, Name: "/export", Upstream: up, FSIDs: []uint64{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lf := s.LockFiles()
	if _, _, ok := lf.Resolve(appendHandle(nil, 1, []byte("local"))); !ok {
		t.Fatal("Resolve of a handle on the volume's filesystem: got not ok; want ok")
	}
	if _, _, ok := lf.Resolve(appendHandle(nil, 1, []byte("foreign"))); ok {
		t.Fatal("Resolve of a handle on another filesystem: got ok; want not ok")
	}
	if n := getattrs.Load(); n != 2 {
		t.Fatalf("GETATTRs: got %d; want 2", n)
	}
	s.Meta(1).PutAttr([]byte("cached-foreign"), nfs3.Fattr3{Type: nfs3.TypeReg, FSID: 9})
	if _, _, ok := lf.Resolve(appendHandle(nil, 1, []byte("cached-foreign"))); ok {
		t.Fatal("Resolve of a cached object on another filesystem: got ok; want not ok")
	}
	if n := getattrs.Load(); n != 2 {
		t.Fatalf("GETATTRs after a cached lookup: got %d; want still 2", n)
	}
}
