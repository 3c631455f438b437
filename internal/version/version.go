// Package version is the one rule that decides whether cached attributes
// or data are still the upstream's current version of a file.
//
// A version is (fileid, size, mtime, ctime), as the upstream reports it
// in fattr3 (Of) or, without the fileid, in WCC pre-operation attributes
// (Pre). Two versions are the same when all four fields are equal (Same);
// any difference, in either direction, is a change. The only change the
// proxy may apply to what it holds instead of dropping it is its own
// WRITE: Written says whether a reply's attributes can be explained by
// that write alone.
//
// It is a leaf shared by coherency (attributes, names, listings, WCC,
// write tracking) and cache (the data cache's records, fills, WroteAt),
// so that neither imports the other. It holds no state and no locks, and
// must not grow any: policy (TTLs, modes, serve-stale) stays in coherency.
package version

import "github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"

// Time is an NFSv3 nfstime3.
type Time = nfs3.Time

// Version is what the upstream says about an object's version.
type Version struct {
	FileID, Size uint64
	Mtime, Ctime Time
}

// Of is the version attributes a describe.
func Of(a *nfs3.Fattr3) Version {
	return Version{FileID: a.FileID, Size: a.Size, Mtime: a.Mtime, Ctime: a.Ctime}
}

// Pre is the version before an operation, from WCC pre-operation
// attributes w, which carry no fileid: the caller supplies it (the
// post-operation attributes', or the cached one's).
func Pre(fileid uint64, w *nfs3.WccAttr) Version {
	return Version{FileID: fileid, Size: w.Size, Mtime: w.Mtime, Ctime: w.Ctime}
}

// Same reports whether a and b are the same version of the same file:
// what was cached for a is valid for b.
func Same(a, b Version) bool {
	return a == b
}

// Written reports whether after can be the version of the file that was
// before, changed by writing count bytes at off and by nothing else that
// shows in its size or times: the same file, the size the write leaves,
// and times that did not go back.
func Written(before, after Version, off uint64, count uint32) bool {
	size := max(before.Size, off+uint64(count))
	return after.FileID == before.FileID && after.Size == size &&
		!Later(before.Mtime, after.Mtime) && !Later(before.Ctime, after.Ctime)
}

// Extends reports whether post, the version after a write the proxy made,
// follows pre, the version before it, for the data cache: the same file,
// not shorter. (The cache then adopts post and applies the bytes.)
func Extends(pre, post Version) bool {
	return pre.FileID == post.FileID && post.Size >= pre.Size
}

// Later reports whether a is after b.
func Later(a, b Time) bool {
	return a.Sec > b.Sec || a.Sec == b.Sec && a.Nsec > b.Nsec
}
