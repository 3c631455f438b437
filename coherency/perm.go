package coherency

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// Permission bits of one rwx triplet of a mode, for Permits.
const (
	PermRead  = 4
	PermWrite = 2
	PermExec  = 1
)

// Permits is the one rule for answering from the cache without asking the
// upstream whether a caller may: it reports whether cred (after the
// volume's squashing) may use an object with attributes a with the rwx
// bits, judged by the POSIX mode bits the upstream would check: the owner
// triplet if cred's uid owns it, else the group triplet if its gid or a
// supplementary group is the object's group, else the other triplet.
//
// It never grants uid 0: whether the upstream squashes root is the
// upstream's own export option, unknown here, so the proxy asks the
// upstream's ACCESS for root once and caches that answer (proxy mayAccess).
// It errs towards no: it knows nothing of ACLs (an entry denying what the
// mode allows is not seen; use the ACCESS cache where ACLs matter) and
// nothing of server-side overrides that would grant more — a no only costs
// a round trip to the upstream, which then decides.
func Permits(a *nfs3.Fattr3, cred *rpc.Cred, bits uint32) bool {
	if cred.UID == 0 {
		return false
	}
	var have uint32
	switch {
	case a.UID == cred.UID:
		have = a.Mode >> 6 & 7
	case cred.InGroup(a.GID):
		have = a.Mode >> 3 & 7
	default:
		have = a.Mode & 7
	}
	return have&bits == bits
}
