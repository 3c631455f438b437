package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Upstream is what the proxy needs from its upstream client: one call by
// procedure number, carrying the caller's credential, and the export's root
// handle. *upstream.Client implements it.
type Upstream interface {
	Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error
	Root() nfs3.FH
}

// Volume is one export the proxy serves.
type Volume struct {
	ID       uint16   // from the configuration; part of every handle, never reused
	Name     string   // the path clients mount, e.g. "/export"
	Upstream Upstream // the upstream export behind it
	ReadOnly bool     // answer NFS3ERR_ROFS to every change
	Policy   Policy   // who may use it, and as whom

	// Coherency configures the metadata caches and their validity rules
	// (zero value: ttl mode with Linux-like defaults).
	Coherency coherency.Options
	// Data is the on-disk data cache for this volume; nil serves every
	// READ from the upstream.
	Data DataCache
	// Failure says what clients see while the upstream is unreachable.
	Failure Failure
	// FSIDs, when set, are the upstream filesystem ids the volume's objects
	// may have (the export root's, plus any it crosses into). A handle whose
	// object has another fsid — one forged for another export of the same
	// server — is NFS3ERR_STALE, checked before the call is forwarded.
	FSIDs []uint64
	// Pending marks a volume whose upstream could not be mounted at start
	// (its Upstream's Root is not known yet). Until it is activated, MNT
	// of it is answered MNT3ERR_SERVERFAULT and NFS calls with its handles
	// NFS3ERR_JUKEBOX (NFS3ERR_IO when soft), without an upstream call.
	// When its Upstream is a Prober, the server activates it itself once
	// the upstream is mounted (activate.go); otherwise the caller does,
	// with Server.Activate.
	Pending bool
	// ProbeFSID, for a Pending volume activated by the server, checks
	// handles against the export root's filesystem id (Prober.RootFSID),
	// as FSIDs does for a volume mounted at start. Off: no check (an
	// export that crosses into other filesystems).
	ProbeFSID bool
}

// Failure is a volume's behaviour while its upstream does not answer.
type Failure struct {
	// Soft gives up on an upstream call after SoftTimeout and answers
	// NFS3ERR_IO, like a soft mount. Otherwise (hard, the default) calls
	// are retried until the request's deadline and then answered
	// NFS3ERR_JUKEBOX, so the client waits and tries again.
	Soft        bool
	SoftTimeout time.Duration // default 30s
	// ServeStale answers GETATTR, LOOKUP, ACCESS and READ of objects the
	// caches hold, however old, while the upstream cannot be reached.
	// Changes still fail.
	ServeStale bool
}

// volume is a Volume with what the server derives from it.
type volume struct {
	Volume
	// ready holds the root and filesystem ids once the upstream is
	// mounted; nil while the volume is Pending.
	ready atomic.Pointer[volumeReady]
	meta  *coherency.Cache // attributes, names, listings, ACCESS, READLINK
	live  atomic.Pointer[liveAccess]
	// fetchSrc is where the data cache's fetches read from; its Timeout
	// bounds one fetch (Options.RequestTimeout, or the soft timeout).
	fetchSrc coherency.Source
	// upstreamSlots bounds the requests waiting on this volume's upstream
	// at once, so one slow or hung upstream cannot take every global
	// request slot from the other volumes; nil (one volume) = no bound.
	upstreamSlots chan struct{}
}

// liveAccess is the part of a volume's configuration that can change while
// serving (SetAccess): who may use it and whether it is read-only.
type liveAccess struct {
	Policy   Policy
	ReadOnly bool
}

func newVolume(v Volume) (*volume, error) {
	if v.Failure.SoftTimeout == 0 {
		v.Failure.SoftTimeout = 30 * time.Second
	}
	meta, err := coherency.New(v.Coherency)
	if err != nil {
		return nil, fmt.Errorf("proxy: volume %d: %w", v.ID, err)
	}
	vol := &volume{Volume: v, meta: meta}
	if !v.Pending {
		vol.ready.Store(&volumeReady{root: appendHandle(nil, v.ID, v.Upstream.Root()), upstreamRoot: v.Upstream.Root(), fsids: v.FSIDs})
	}
	vol.live.Store(&liveAccess{Policy: v.Policy, ReadOnly: v.ReadOnly})
	return vol, nil
}

// SetAccess replaces a volume's export policy and read-only flag while the
// server runs (for a configuration reload). Requests already past their
// policy check finish under the old one.
func (s *Server) SetAccess(id uint16, p Policy, readOnly bool) error {
	v := s.vols[id]
	if v == nil {
		return fmt.Errorf("proxy: SetAccess: no volume %d", id)
	}
	v.live.Store(&liveAccess{Policy: p, ReadOnly: readOnly})
	return nil
}

// Meta returns the volume's metadata cache (for statistics and the
// invalidate command).
func (s *Server) Meta(id uint16) *coherency.Cache {
	if v := s.vols[id]; v != nil {
		return v.meta
	}
	return nil
}

// wrap returns the proxy handle for upstream handle ufh, or ok=false when it
// does not fit.
func (v *volume) wrap(ufh nfs3.FH) (nfs3.FH, bool) {
	if len(ufh) > MaxUpstreamHandle || len(ufh) == 0 {
		return nil, false
	}
	return appendHandle(make([]byte, 0, handleHeader+len(ufh)), v.ID, ufh), true
}

const (
	nfsProgram   = nfs3.Program
	nfsVersion   = nfs3.Version
	mountProgram = nfs3.MountProgram
	mountVersion = nfs3.MountVersion
)

// volumeReady is what a volume knows once its upstream is mounted.
type volumeReady struct {
	root         nfs3.FH  // proxy handle of the upstream root
	upstreamRoot nfs3.FH  // the upstream's own root handle
	fsids        []uint64 // Volume.FSIDs, or those given to Server.Activate
}
