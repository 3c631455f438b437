package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Helpers shared by the procedures that consult the caches.

// mayAccess decides whether the caller may be given a cached answer that
// needs the ACCESS bits access (mode bits modeBits) on fh: from a cached
// ACCESS result for this very credential; else from the mode bits for
// ordinary users; else — for uid 0, whom the upstream may squash — by
// asking the upstream's ACCESS once and caching its answer.
func (req *request) mayAccess(v *volume, fh nfs3.FH, a *nfs3.Fattr3, access, modeBits uint32) bool {
	key := req.cred.Key()
	if granted, ok := v.meta.Access(fh, key, access); ok {
		return granted&access == access
	}
	if req.cred.UID != 0 {
		return coherency.Permits(a, &req.cred, modeBits)
	}
	var res nfs3.AccessRes
	ask := nfs3.AccessRead | nfs3.AccessLookup | nfs3.AccessExecute
	if st := req.call(v, nfs3.ProcAccess, &nfs3.AccessArgs{Object: fh, Access: ask}, &res); st != nfs3.StatOK || res.Status != nfs3.StatOK {
		return req.serveStale(v, func() bool { return req.mayAccessStale(v, fh, access) })
	}
	v.meta.PutPostOp(fh, res.Attr)
	v.meta.PutAccess(fh, key, ask, res.Access)
	return res.Access&access == access
}
