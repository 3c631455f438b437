package proxy

import (
	"net/netip"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
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
