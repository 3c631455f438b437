package proxy

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// hungUpstream accepts every call and answers none until the call's
// context ends: an upstream that is connected but hung.
type hungUpstream struct {
	root    nfs3.FH
	waiting atomic.Int64
}

func (h *hungUpstream) Root() nfs3.FH { return h.root }
func (h *hungUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

// TestHungUpstreamLeavesSlotsForOtherVolumes: clients pipelining requests
// to a volume whose upstream hangs get at most three quarters of the
// request slots; the rest are answered at once (JUKEBOX) and a request to
// a healthy volume is still served.
func TestHungUpstreamLeavesSlotsForOtherVolumes(t *testing.T) {
	const global = 8
	hung := &hungUpstream{root: nfs3.FH{9, 9, 9, 9}}
	healthy := &memUpstream{root: nfs3.FH{1, 1, 1, 1}, attr: nfs3.Fattr3{Type: nfs3.TypeDir, Mode: 0o755, Nlink: 2, FileID: 1}}
	cto := coherency.Options{Mode: coherency.ModeCTO} // every GETATTR goes upstream
	s, addr := startProxy(t, Options{GlobalLimit: global, PerConnLimit: global, Volumes: []Volume{
		{ID: 1, Name: "/hung", Upstream: hung, Coherency: cto},
		{ID: 2, Name: "/ok", Upstream: healthy, Coherency: cto},
	}})

	bad := dialRaw(t, addr)
	hungRoot := appendHandle(nil, 1, hung.root)
	for i := range global {
		bad.sendRecord(callBody(uint32(100+i), nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: hungRoot}))
	}
	const share = global * 3 / 4
	await.Until(t, "the hung volume's share of requests to wait upstream", func() bool { return hung.waiting.Load() == share })
	// The others were answered at once, as for an unreachable upstream.
	for range global - share {
		_, r, err := replyHead(t, bad.readReply())
		var res nfs3.GetattrRes
		if err != nil || res.Decode(r) != nil || res.Status != nfs3.StatJukebox {
			t.Fatalf("GETATTR beyond the hung volume's share: %v %v; want NFS3ERR_JUKEBOX", err, res.Status)
		}
	}
	if got := s.Stats().VolumeBusy; got != global-share {
		t.Fatalf("VolumeBusy = %d; want %d", got, global-share)
	}

	good := dialRaw(t, addr)
	good.sendRecord(callBody(1, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: appendHandle(nil, 2, healthy.root)}))
	_, r, err := replyHead(t, good.readReply())
	var res nfs3.GetattrRes
	if err != nil || res.Decode(r) != nil || res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR on the healthy volume while the other hangs: %v %v; want NFS3_OK", err, res.Status)
	}
	if got := hung.waiting.Load(); got != share {
		t.Fatalf("%d requests waiting on the hung upstream; want %d", got, share)
	}
}
