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

// memUpstream serves one regular file of 4 MiB.
type memUpstream struct {
	root nfs3.FH
	data []byte
	attr nfs3.Fattr3
}

func (m *memUpstream) Root() nfs3.FH { return m.root }
func (m *memUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	switch proc {
	case nfs3.ProcGetattr:
		*res.(*nfs3.GetattrRes) = nfs3.GetattrRes{Status: nfs3.StatOK, Attr: m.attr}
	case nfs3.ProcRead:
		a := args.(*nfs3.ReadArgs)
		end := min(uint64(len(m.data)), a.Offset+uint64(a.Count))
		*res.(*nfs3.ReadRes) = nfs3.ReadRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: m.attr},
			Count: uint32(end - a.Offset), EOF: end == uint64(len(m.data)), Data: m.data[a.Offset:end]}
	}
	return nil
}

// BenchmarkDispatchReadHit1MiB measures the proxy's whole request path for
// a 1 MiB READ served from the data cache (decode, handle, attribute cache,
// permission check, cache read into the reply buffer, reply header), without
// the network. The aim is at most 2 allocations per operation.
func BenchmarkDispatchReadHit1MiB(b *testing.B) {
	up := &memUpstream{root: nfs3.FH{1, 1, 1, 1}, data: make([]byte, 4<<20),
		attr: nfs3.Fattr3{Type: nfs3.TypeReg, Mode: 0o644, Size: 4 << 20, FileID: 42, Nlink: 1}}
	store, err := cache.Open(cache.Options{Dir: b.TempDir(), Readahead: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	s, err := New(Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up,
		Data: StoreVolume(store, cache.VolumeKey{Server: "mem", Export: "/x", ID: 1})}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &conn{s: s, remote: netip.MustParseAddrPort("127.0.0.1:700"), slots: make(chan struct{}, 1)}
	fh := appendHandle(nil, 1, nfs3.FH{7, 7, 7, 7})
	rec := callBody(1, nfs3.Program, 3, nfs3.ProcRead, &testCred, &nfs3.ReadArgs{File: fh, Offset: 1 << 20, Count: 1 << 20})
	w := xdr.NewWriter(make([]byte, 0, 2<<20))
	for i := 0; i < 3; i++ { // fill the cache and the attribute cache
		w.Buf = w.Buf[:0]
		c.dispatch(rec, w, nil)
	}
	// Stores finish in the background; with readahead off, the 4 fills
	// are the read's own granules.
	await.Until(b, "the read's 4 granules to be stored", func() bool { return store.Stats().Fills == 4 })
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		w.Buf = w.Buf[:0]
		if !c.dispatch(rec, w, nil) {
			b.Fatal("no reply")
		}
	}
	if st := store.Stats(); st.Hits == 0 {
		b.Fatalf("no cache hits: %+v", st)
	}
}
