package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// proberUpstream is an fsidUpstream that is not mounted until the test
// says so; each RootFSID call is announced on calls and answered with the
// next of results (fsid 1 once they are used up).
type proberUpstream struct {
	fsidUpstream
	mounted chan struct{}
	root    atomic.Pointer[nfs3.FH]
	calls   chan struct{}
	results []error
	n       atomic.Int32
}

func newProberUpstream(results ...error) *proberUpstream {
	return &proberUpstream{mounted: make(chan struct{}), calls: make(chan struct{}, 16), results: results}
}

func (p *proberUpstream) mount(root nfs3.FH) { p.root.Store(&root); close(p.mounted) }

func (p *proberUpstream) Root() nfs3.FH {
	if r := p.root.Load(); r != nil {
		return *r
	}
	return nil
}

func (p *proberUpstream) Mounted() <-chan struct{} { return p.mounted }

func (p *proberUpstream) RootFSID(ctx context.Context) (uint64, error) {
	i := int(p.n.Add(1)) - 1
	p.calls <- struct{}{}
	if i < len(p.results) && p.results[i] != nil {
		return 0, p.results[i]
	}
	return 1, nil
}

var (
	_ Prober           = (*proberUpstream)(nil)
	_ Prober           = (*upstream.Client)(nil)
	_ coherency.Reader = (*upstream.Client)(nil)
)

// TestPendingVolumeActivatedWhenMounted: a Pending volume whose upstream
// is a Prober is served once the upstream is mounted, with the fsid its
// root has; a failed probe is retried after a backoff on the server's
// clock, and the volume is not served before.
func TestPendingVolumeActivatedWhenMounted(t *testing.T) {
	late := newProberUpstream(errors.New("getattr of the export root: timeout"))
	clk := clockwork.NewFakeClock()
	s, addr := startProxy(t, Options{Clock: clk, Volumes: []Volume{
		{ID: 1, Name: "/good", Upstream: &fsidUpstream{root: nfs3.FH{1, 1, 1, 1}}},
		{ID: 2, Name: "/late", Upstream: late, Pending: true, ProbeFSID: true},
	}})
	ready := func() bool { return s.vols[2].ready.Load() != nil }
	c := dialRaw(t, addr)
	fh := appendHandle(nil, 2, nfs3.FH{2, 2, 2, 2})
	if st := getattr3(t, c, 1, fh).Status; st != nfs3.StatJukebox {
		t.Fatalf("GETATTR on /late before its mount: %v; want NFS3ERR_JUKEBOX", st)
	}
	select {
	case <-late.calls:
		t.Fatal("fsid probed before the upstream was mounted")
	default:
	}

	late.mount(nfs3.FH{2, 2, 2, 2})
	await.Recv(t, "the first fsid probe", late.calls)
	ctx, cancel := context.WithTimeout(t.Context(), await.Deadline)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("the server never waited to retry the failed probe: %v", err)
	}
	if ready() {
		t.Fatal("volume served after a failed fsid probe")
	}
	clk.Advance(probeRetryMin)
	await.Recv(t, "the second fsid probe", late.calls)
	await.Until(t, "/late to be activated", ready)
	if got := s.vols[2].ready.Load().fsids; len(got) != 1 || got[0] != 1 {
		t.Fatalf("activated with fsids %v; want [1]", got)
	}
	if st := getattr3(t, c, 2, fh).Status; st != nfs3.StatOK {
		t.Fatalf("GETATTR on /late once mounted: %v; want OK", st)
	}
	if st := getattr3(t, c, 3, appendHandle(nil, 2, nfs3.FH{9, 2, 3, 4})).Status; st != nfs3.StatStale {
		t.Fatalf("GETATTR of a handle on another fsid: %v; want NFS3ERR_STALE (the probed fsid is checked)", st)
	}
}

// TestPendingVolumeActivationStops: without ProbeFSID a mounted volume is
// activated without a probe and without an fsid check; Close stops the
// activations still waiting, for a mount or for a retry (the package's
// leak check fails otherwise).
func TestPendingVolumeActivationStops(t *testing.T) {
	noProbe := newProberUpstream()
	never := newProberUpstream()
	failing := newProberUpstream(errors.New("down"), errors.New("down"))
	clk := clockwork.NewFakeClock()
	s, err := New(Options{Clock: clk, Volumes: []Volume{
		{ID: 1, Name: "/a", Upstream: noProbe, Pending: true},
		{ID: 2, Name: "/b", Upstream: never, Pending: true, ProbeFSID: true},
		{ID: 3, Name: "/c", Upstream: failing, Pending: true, ProbeFSID: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	noProbe.mount(nfs3.FH{1})
	await.Until(t, "/a to be activated", func() bool { return s.vols[1].ready.Load() != nil })
	if got := s.vols[1].ready.Load().fsids; got != nil {
		t.Fatalf("activated without ProbeFSID with fsids %v; want none", got)
	}
	if n := noProbe.n.Load(); n != 0 {
		t.Fatalf("%d fsid probes without ProbeFSID; want 0", n)
	}
	failing.mount(nfs3.FH{3})
	await.Recv(t, "the failing probe", failing.calls)
	ctx, cancel := context.WithTimeout(t.Context(), await.Deadline)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("the server never waited to retry: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Close() }()
	await.Recv(t, "Close to return with activations waiting", done)
	if s.vols[2].ready.Load() != nil || s.vols[3].ready.Load() != nil {
		t.Fatal("a volume never mounted, or never probed, was activated")
	}
}
