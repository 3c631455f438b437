package proxy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// squashingUpstream behaves like an export with root_squash: uid 0 gets
// nothing on a 0600 file owned by uid 1000.
type squashingUpstream struct {
	memUpstream
}

func (u *squashingUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	if cred.UID == 0 {
		switch proc {
		case nfs3.ProcRead:
			*res.(*nfs3.ReadRes) = nfs3.ReadRes{Status: nfs3.StatAcces}
			return nil
		case nfs3.ProcAccess:
			*res.(*nfs3.AccessRes) = nfs3.AccessRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: u.attr}}
			return nil
		}
	}
	return u.memUpstream.Call(ctx, cred, proc, args, res)
}

// TestRootGetsNoCachedDataTheUpstreamRefuses: data cached for its owner is
// not served to uid 0 on the strength of the mode bits — the upstream may
// squash root — but only after the upstream's own ACCESS says so.
func TestRootGetsNoCachedDataTheUpstreamRefuses(t *testing.T) {
	up := &squashingUpstream{memUpstream{root: nfs3.FH{1, 1, 1, 1}, data: make([]byte, 1<<20),
		attr: nfs3.Fattr3{Type: nfs3.TypeReg, Mode: 0o600, UID: 1000, GID: 1000, Size: 1 << 20, FileID: 42, Nlink: 1}}}
	// No readahead: the one fill this test waits for is then the granule
	// the second read needs, not one fetched ahead of it.
	store, err := cache.Open(cache.Options{Dir: t.TempDir(), Readahead: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s, err := New(Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up,
		Data: StoreVolume(store, cache.VolumeKey{Server: "mem", Export: "/x", ID: 1})}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &conn{s: s, remote: netip.MustParseAddrPort("127.0.0.1:700"), slots: make(chan struct{}, 1)}
	fh := appendHandle(nil, 1, nfs3.FH{7, 7, 7, 7})
	read := func(uid uint32) nfs3.Stat {
		cred := rpc.Cred{Flavor: rpc.AuthSys, UID: uid, GID: uid}
		w := xdr.NewWriter(nil)
		if !c.dispatch(callBody(1, nfs3.Program, 3, nfs3.ProcRead, &cred, &nfs3.ReadArgs{File: fh, Count: 4096}), w, nil) {
			t.Fatal("no reply")
		}
		_, r, err := replyHead(t, w.Bytes())
		var res nfs3.ReadRes
		if err != nil || res.Decode(r) != nil {
			t.Fatalf("reply: %v", err)
		}
		return res.Status
	}
	if st := read(1000); st != nfs3.StatOK {
		t.Fatalf("owner: %v; want OK", st)
	}
	// The granule is stored in the background; it is present once counted.
	await.Until(t, "the owner's granule to be stored", func() bool { return store.Stats().Fills == 1 })
	if st := read(1000); st != nfs3.StatOK || store.Stats().Hits == 0 {
		t.Fatalf("owner's second read: %v, hits %d; want a cache hit (stats %+v)", st, store.Stats().Hits, store.Stats())
	}
	if st := read(0); st != nfs3.StatAcces {
		t.Fatalf("root on the cached file: %v; want NFS3ERR_ACCES as the root-squashing upstream answers", st)
	}
}
