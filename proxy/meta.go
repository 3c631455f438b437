package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// Helpers shared by the procedures that consult the caches.

// coherencyOf is the data cache's view of an object's version.
func coherencyOf(a *nfs3.Fattr3) cache.Coherency {
	return cache.Coherency{
		FileID: a.FileID, Size: a.Size,
		Mtime: cache.Time{Sec: a.Mtime.Sec, Nsec: a.Mtime.Nsec},
		Ctime: cache.Time{Sec: a.Ctime.Sec, Nsec: a.Ctime.Nsec},
	}
}

// wccCoherency is the version before an operation, from WCC pre-op
// attributes (which carry no fileid: the caller supplies it).
func wccCoherency(fileid uint64, w *nfs3.WccAttr) cache.Coherency {
	return cache.Coherency{
		FileID: fileid, Size: w.Size,
		Mtime: cache.Time{Sec: w.Mtime.Sec, Nsec: w.Mtime.Nsec},
		Ctime: cache.Time{Sec: w.Ctime.Sec, Nsec: w.Ctime.Nsec},
	}
}

// Permission bits of a mode triplet.
const (
	permRead  = 4
	permWrite = 2
	permExec  = 1
)

// permits reports whether cred may use object a with the given rwx bits
// by its mode: the check the upstream would make for a cached answer.
// It never grants uid 0: whether the upstream squashes root is its own
// export option, unknown here (see mayAccess).
func permits(a *nfs3.Fattr3, c *rpc.Cred, bits uint32) bool {
	if c.UID == 0 {
		return false
	}
	var have uint32
	switch {
	case a.UID == c.UID:
		have = a.Mode >> 6 & 7
	case c.InGroup(a.GID):
		have = a.Mode >> 3 & 7
	default:
		have = a.Mode & 7
	}
	return have&bits == bits
}

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
		return permits(a, &req.cred, modeBits)
	}
	var res nfs3.AccessRes
	ask := nfs3.AccessRead | nfs3.AccessLookup | nfs3.AccessExecute
	if st := req.call(v, nfs3.ProcAccess, &nfs3.AccessArgs{Object: fh, Access: ask}, &res); st != nfs3.StatOK || res.Status != nfs3.StatOK {
		if req.serveStale(v) {
			granted, ok := v.meta.AccessStale(fh, key, access)
			return ok && granted&access == access
		}
		return false
	}
	v.meta.PutPostOp(fh, res.Attr)
	v.meta.PutAccess(fh, key, ask, res.Access)
	return res.Access&access == access
}
