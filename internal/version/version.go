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
