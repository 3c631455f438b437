package proxy

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// changingUpstream is one file another client can change behind the
// proxy's back; it counts READs.
type changingUpstream struct {
	root  nfs3.FH
	reads atomic.Int64
	// mu guards data and attr.
	mu   sync.Mutex
	data []byte
	attr nfs3.Fattr3
}

func (u *changingUpstream) Root() nfs3.FH { return u.root }

func (u *changingUpstream) set(data []byte, mtime uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data = data
	u.attr.Size = uint64(len(data))
	u.attr.Mtime, u.attr.Ctime = nfs3.Time{Sec: mtime}, nfs3.Time{Sec: mtime}
}

func (u *changingUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch proc {
	case nfs3.ProcGetattr:
		*res.(*nfs3.GetattrRes) = nfs3.GetattrRes{Status: nfs3.StatOK, Attr: u.attr}
	case nfs3.ProcAccess:
		*res.(*nfs3.AccessRes) = nfs3.AccessRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: u.attr}, Access: args.(*nfs3.AccessArgs).Access}
	case nfs3.ProcRead:
		u.reads.Add(1)
		a := args.(*nfs3.ReadArgs)
		off := min(a.Offset, uint64(len(u.data)))
		end := min(uint64(len(u.data)), off+uint64(a.Count))
		*res.(*nfs3.ReadRes) = nfs3.ReadRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: u.attr},
			Count: uint32(end - off), EOF: end == uint64(len(u.data)), Data: append([]byte(nil), u.data[off:end]...)}
	}
	return nil
}

// TestReadMissChangedUnderFetch: the file changes upstream after the proxy
// cached its attributes. The next READ misses the data cache; its one
// upstream READ returns the new bytes with the new attributes, and the
// client gets exactly those (bytes, attributes, EOF) — no second READ.
// The new bytes are not stored under the old version, and later READs
// never serve the old bytes.
func TestReadMissChangedUnderFetch(t *testing.T) {
	const granule = 256 << 10
	oldData, newData := bytes.Repeat([]byte("o"), 4*granule), bytes.Repeat([]byte("n"), granule/2)
	up := &changingUpstream{root: nfs3.FH{1, 1, 1, 1},
		attr: nfs3.Fattr3{Type: nfs3.TypeReg, Mode: 0o644, UID: 1000, GID: 1000, FileID: 42, Nlink: 1}}
	up.set(oldData, 1)
	store, err := cache.Open(cache.Options{Dir: t.TempDir(), GranuleSize: granule, Readahead: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key := cache.VolumeKey{Server: "mem", Export: "/x", ID: 1}
	// A fake clock: the attributes cached before the change stay fresh,
	// so the READ trusts them and meets the change in its fetch.
	s, err := New(Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up,
		Coherency: coherency.Options{Clock: clockwork.NewFakeClock()},
		Data:      StoreVolume(store, key)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &conn{s: s, remote: netip.MustParseAddrPort("127.0.0.1:700"), slots: make(chan struct{}, 1)}
	ufh := nfs3.FH{7, 7, 7, 7}
	fh := appendHandle(nil, 1, ufh)
	cred := rpc.Cred{Flavor: rpc.AuthSys, UID: 1000, GID: 1000}
	call := func(proc uint32, args xdr.Encoder, res xdr.Decoder) {
		t.Helper()
		w := xdr.NewWriter(nil)
		if !c.dispatch(callBody(1, nfs3.Program, 3, proc, &cred, args), w, nil) {
			t.Fatal("no reply")
		}
		_, r, err := replyHead(t, w.Bytes())
		if err != nil || res.Decode(r) != nil {
			t.Fatalf("reply: %v", err)
		}
	}
	var ga nfs3.GetattrRes
	call(nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: fh}, &ga)
	if ga.Status != nfs3.StatOK || ga.Attr.Size != uint64(len(oldData)) {
		t.Fatalf("GETATTR: %v size %d; want OK, %d", ga.Status, ga.Attr.Size, len(oldData))
	}
	oldVer := version.Of(&ga.Attr)

	up.set(newData, 2) // another client rewrites the file
	var rr nfs3.ReadRes
	call(nfs3.ProcRead, &nfs3.ReadArgs{File: fh, Count: granule}, &rr)
	if n := up.reads.Load(); n != 1 {
		t.Fatalf("%d upstream READs for one READ whose fetch met a change; want exactly 1", n)
	}
	if rr.Status != nfs3.StatOK || !bytes.Equal(rr.Data, newData) || !rr.EOF {
		t.Fatalf("READ across the change: %v, %d bytes, new: %v, eof %v; want OK, the %d new bytes, eof",
			rr.Status, len(rr.Data), bytes.Equal(rr.Data, newData), rr.EOF, len(newData))
	}
	if !rr.Attr.Set || rr.Attr.Attr.Size != uint64(len(newData)) || rr.Attr.Attr.Mtime.Sec != 2 {
		t.Fatalf("READ across the change: attributes %+v; want the new version's (size %d, mtime 2)", rr.Attr, len(newData))
	}
	if st := store.Stats(); st.Fills != 0 || st.ChangedFetches != 1 {
		t.Fatalf("cache: fills %d, changed fetches %d; want 0 and 1", st.Fills, st.ChangedFetches)
	}
	// Under the old version the cache holds nothing: a read at it misses.
	refuse := cache.FetcherFunc(func(context.Context, []byte, int64) (int, bool, error) { return 0, false, nfs3.StatIO })
	if n, err := store.ReadAt(context.Background(), key, ufh, oldVer, make([]byte, 10), 0, refuse); err == nil {
		t.Fatalf("read at the old version: %d bytes from the cache; want a miss", n)
	}

	// Later READs: the new bytes, first fetched and stored, then hits.
	for i, wantFills := range []uint64{1, 1} {
		var rr nfs3.ReadRes
		call(nfs3.ProcRead, &nfs3.ReadArgs{File: fh, Count: granule}, &rr)
		if rr.Status != nfs3.StatOK || !bytes.Equal(rr.Data, newData) || rr.Attr.Attr.Mtime.Sec != 2 {
			t.Fatalf("READ %d after the change: %v, %d bytes, new: %v, mtime %d; want the new bytes and version",
				i+2, rr.Status, len(rr.Data), bytes.Equal(rr.Data, newData), rr.Attr.Attr.Mtime.Sec)
		}
		await.Until(t, "the new version's granule to be stored", func() bool { return store.Stats().Fills == wantFills })
	}
	if n := up.reads.Load(); n != 2 {
		t.Fatalf("%d upstream READs for three client READs; want 2 (the third is a hit)", n)
	}
}
