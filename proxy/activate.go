package proxy

import (
	"context"
	"fmt"
	"time"
)

// Volumes served later: a volume whose upstream could not be mounted at
// start (Volume.Pending) is served from the moment its upstream is. When
// its Upstream is a Prober, New starts one goroutine for it, owned by the
// Server (Close cancels it and waits), which waits for Mounted, then
// probes the export root's filesystem id when Volume.ProbeFSID asks for
// it — retrying a failed probe with backoff (probeRetryMin doubling to
// probeRetryMax, on the server's clock), each attempt bounded by
// probeTimeout — and activates the volume. Mounting itself (the MNT and
// its retries) is the upstream client's business.

const (
	probeRetryMin = time.Second
	probeRetryMax = 30 * time.Second
	probeTimeout  = 30 * time.Second
)

// Prober is what the server needs from a Pending volume's upstream to
// activate it itself. *upstream.Client implements it.
type Prober interface {
	// Mounted is closed once the upstream's export is mounted (its Root
	// is known).
	Mounted() <-chan struct{}
	// RootFSID returns the filesystem id of the export's root.
	RootFSID(ctx context.Context) (uint64, error)
}

// startActivations starts the activation of each Pending volume whose
// upstream is a Prober.
func (s *Server) startActivations() {
	for _, v := range s.vols {
		p, ok := v.Upstream.(Prober)
		if !v.Pending || !ok {
			continue
		}
		s.grp.Run(func() { s.activateWhenMounted(s.ctx, v, p) })
	}
}

// activateWhenMounted activates v once p is mounted and, if v asks for
// it, its root's filesystem id is known; it gives up when ctx ends.
func (s *Server) activateWhenMounted(ctx context.Context, v *volume, p Prober) {
	select {
	case <-p.Mounted():
	case <-ctx.Done():
		return
	}
	var fsids []uint64
	for wait := probeRetryMin; v.ProbeFSID; wait = min(2*wait, probeRetryMax) {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		id, err := p.RootFSID(pctx)
		cancel()
		if err == nil {
			fsids = []uint64{id}
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("volume not served yet", "volume", v.ID, "err", err, "retry", wait)
		select {
		case <-s.clock.After(wait):
		case <-ctx.Done():
			return
		}
	}
	if err := s.Activate(v.ID, fsids); err != nil {
		s.log.Error("volume not served", "volume", v.ID, "err", err)
	}
}

// Activate starts serving volume id, Pending until now: its Upstream's Root
// is known. fsids are its filesystem ids (see Volume.FSIDs; nil: no check).
// Activating a volume already serving does nothing.
func (s *Server) Activate(id uint16, fsids []uint64) error {
	v := s.vols[id]
	if v == nil {
		return fmt.Errorf("proxy: activate volume %d: no such volume", id)
	}
	root := v.Upstream.Root()
	switch {
	case len(root) == 0:
		return fmt.Errorf("proxy: activate volume %d: upstream root unknown", id)
	case len(root) > MaxUpstreamHandle:
		return fmt.Errorf("proxy: activate volume %d: upstream root handle is %d bytes, more than the %d that fit", id, len(root), MaxUpstreamHandle)
	}
	if v.ready.CompareAndSwap(nil, &volumeReady{root: appendHandle(nil, id, root), upstreamRoot: root, fsids: fsids}) {
		s.log.Info("volume serving: its upstream is mounted", "volume", id, "name", v.Name)
	}
	return nil
}
