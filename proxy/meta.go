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
// uid 0 (after squashing) may read and search anything, as on a server
// without root squash; execute on a regular file still needs some x bit.
func permits(a *nfs3.Fattr3, c *rpc.Cred, bits uint32) bool {
	if c.UID == 0 {
		if bits&permExec != 0 && a.Type != nfs3.TypeDir && a.Mode&0o111 == 0 {
			return false
		}
		return true
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
