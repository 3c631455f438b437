package proxy

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// LockFiles is the proxy's side of NLM (package nlm's Files): it maps a
// client's file handle to the volume and upstream handle a lock request
// is forwarded with, and revalidates a file's cache when a lock on it is
// granted.
type LockFiles struct{ s *Server }

// LockFiles returns the handle mapping and grant hook for the NLM server.
func (s *Server) LockFiles() LockFiles { return LockFiles{s: s} }

// Resolve returns the volume and upstream handle of proxy handle fh; ok is
// false for a handle that is malformed, names no volume of ours, or (for a
// volume with FSIDs) names an object of another upstream filesystem, as
// NFS calls are checked: its attributes come from the cache or, when not
// cached, from one upstream GETATTR as root.
func (l LockFiles) Resolve(fh []byte) (vol uint16, ufh []byte, ok bool) {
	id, ufh, ok := splitHandle(fh)
	v := l.s.vols[id]
	if !ok || v == nil {
		return 0, nil, false
	}
	if len(v.FSIDs) > 0 {
		a, _, cached := v.meta.Attr(ufh)
		if !cached {
			ctx, cancel := context.WithTimeout(context.Background(), lockGetattrTimeout)
			defer cancel()
			var res nfs3.GetattrRes
			if err := v.Upstream.Call(ctx, &lockCred, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: ufh}, &res); err != nil || res.Status != nfs3.StatOK {
				return 0, nil, false
			}
			a = res.Attr
		}
		if !slices.Contains(v.FSIDs, a.FSID) {
			l.s.stats.foreignHandles.Add(1)
			return 0, nil, false
		}
	}
	return id, ufh, true
}

// lockCred is the identity of Resolve's GETATTR; lockGetattrTimeout bounds it.
var lockCred = rpc.Cred{Flavor: rpc.AuthSys, Machine: "nfscacheproxy-nlm"}

const lockGetattrTimeout = 10 * time.Second

// Allowed reports whether a client at addr may use volume vol under its
// current export policy (client networks, secure ports), as NFS calls are
// checked.
func (l LockFiles) Allowed(vol uint16, addr netip.AddrPort) bool {
	v := l.s.vols[vol]
	if v == nil {
		return false
	}
	p := v.live.Load().Policy
	return p.allows(addr)
}

// Granted runs after a lock on fh was granted and before the client learns
// of it. It drops the file's cached attributes (counted as an explicit
// invalidation), so the holder's next GETATTR or READ revalidates with the
// upstream and a data cache whose version no longer matches is not served:
// a client reading under a lock sees what the previous holder wrote, as
// the Linux client itself ensures on lock.
func (l LockFiles) Granted(fh []byte) {
	id, ufh, ok := splitHandle(fh)
	if !ok {
		return
	}
	if v := l.s.vols[id]; v != nil {
		v.meta.Invalidate(ufh, coherency.CauseExplicit) // the caches are keyed by upstream handle
	}
}
