package coherency

import "github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"

// Read permission bits of fattr3 mode.
const (
	modeOwnerRead = 0o400
	modeGroupRead = 0o040
	modeOtherRead = 0o004
)

// MayRead reports whether a caller (uid, primary gid, supplementary
// groups, after any squashing) may read an object with attributes a,
// judged by POSIX mode bits: the owner bits if uid owns it, else the group
// bits if gid or one of groups is its group, else the other bits. uid 0
// may read anything, as on knfsd.
//
// It is meant for serving cached data without asking the upstream, so it
// errs towards no: it knows nothing of ACLs (a named-user or named-group
// entry denying what the mode's other bits allow is not seen) and nothing
// of server-side owner overrides that would grant more. Use the ACCESS
// cache where ACLs matter.
func MayRead(a *nfs3.Fattr3, uid, gid uint32, groups []uint32) bool {
	switch {
	case uid == 0:
		return true
	case uid == a.UID:
		return a.Mode&modeOwnerRead != 0
	case inGroup(a.GID, gid, groups):
		return a.Mode&modeGroupRead != 0
	default:
		return a.Mode&modeOtherRead != 0
	}
}

func inGroup(want, gid uint32, groups []uint32) bool {
	if gid == want {
		return true
	}
	for _, g := range groups {
		if g == want {
			return true
		}
	}
	return false
}
