package proxy

import (
	"strings"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Names the proxy refuses. The proxy is the gatekeeper of its volumes: a
// name argument is checked here, once, by every handler that takes one,
// before anything is forwarded or cached. Some upstreams (nfs-ganesha)
// resolve a LOOKUP name such as "../../etc" as a path, so a name with a
// slash would leave the export. The table of answers is in doc.go.

// nameUse is what a name argument is for; it decides whether "." and ".."
// are allowed and, where they are not, what the refusal answers.
type nameUse uint8

const (
	useLookup nameUse = iota // LOOKUP: "." and ".." allowed
	useCreate                // CREATE, MKDIR, SYMLINK, MKNOD, LINK's new name
	useRemove                // REMOVE, RMDIR
	useRename                // RENAME, both names
)

// verdict is a refusal: why, and what to answer.
type verdict struct {
	why     reason    // reasonNone: accepted
	status  nfs3.Stat // the status to answer, unless garbage
	garbage bool      // answer GARBAGE_ARGS
	limit   string    // the limit hit, for the log
}

func (v verdict) ok() bool { return v.why == reasonNone }

// checkName decides whether a filename3 argument may be used for use.
// Knfsd's answers are kept wherever it has one (see doc.go).
func checkName(name string, use nameUse) verdict {
	switch {
	case name == "":
		return verdict{why: reasonNameEmpty, garbage: true, limit: "name not empty"}
	case strings.IndexByte(name, 0) >= 0:
		return verdict{why: reasonNameNUL, garbage: true, limit: "no NUL in a name"}
	case strings.IndexByte(name, '/') >= 0:
		return verdict{why: reasonNameSlash, garbage: true, limit: "no / in a name"}
	case len(name) > nfs3.MaxName:
		return verdict{why: reasonNameTooLong, status: nfs3.StatNameTooLong, limit: "name at most 255 bytes"}
	case name != "." && name != "..":
		return verdict{}
	}
	switch use {
	case useCreate:
		return verdict{why: reasonNameDot, status: nfs3.StatExist, limit: "no new entry named . or .."}
	case useRemove:
		return verdict{why: reasonNameDot, status: nfs3.StatAcces, limit: "no removing . or .."}
	case useRename:
		return verdict{why: reasonNameDot, status: nfs3.StatPerm, limit: "no renaming . or .."}
	}
	return verdict{}
}

// checkSymlinkTarget decides whether a SYMLINK target may be forwarded.
func checkSymlinkTarget(path string) verdict {
	switch {
	case path == "":
		return verdict{why: reasonTargetInvalid, status: nfs3.StatInval, limit: "symlink target not empty"}
	case len(path) > nfs3.MaxSymlinkPath:
		return verdict{why: reasonTargetTooLong, status: nfs3.StatNameTooLong, limit: "symlink target at most 4096 bytes"}
	case strings.IndexByte(path, 0) >= 0:
		return verdict{why: reasonTargetInvalid, status: nfs3.StatInval, limit: "no NUL in a symlink target"}
	}
	return verdict{}
}

// mountVerdict is a refused MNT dirpath.
type mountVerdict struct {
	why    reason
	status nfs3.MountStat
	limit  string
}

// checkMountPath decides whether a MNT dirpath may be looked up among the
// volumes. Only absolute paths without "." or ".." components or NUL are;
// anything else is refused as MNT3ERR_ACCES, mountd's answer for a path it
// does not export.
func checkMountPath(path string) mountVerdict {
	switch {
	case len(path) > nfs3.MountPathLen:
		return mountVerdict{reasonMountPathTooLong, nfs3.MountErrNameTooLong, "dirpath at most 1024 bytes (MNTPATHLEN)"}
	case !strings.HasPrefix(path, "/"):
		return mountVerdict{reasonMountPathInvalid, nfs3.MountErrAcces, "dirpath absolute"}
	case strings.IndexByte(path, 0) >= 0:
		return mountVerdict{reasonMountPathInvalid, nfs3.MountErrAcces, "no NUL in a dirpath"}
	}
	for c := range strings.SplitSeq(path, "/") {
		if c == "." || c == ".." {
			return mountVerdict{reasonMountPathInvalid, nfs3.MountErrAcces, "no . or .. in a dirpath"}
		}
	}
	return mountVerdict{}
}

// checkName applies checkName to one of the request's name arguments. It
// returns StatOK for an acceptable name; otherwise the refusal has been
// counted and logged, and the handler answers the status returned or, when
// err is set, GARBAGE_ARGS.
func (req *request) checkName(name string, use nameUse) (nfs3.Stat, error) {
	return req.refuse(checkName(name, use), len(name))
}

// refuse counts and logs a refusal (see checkName).
func (req *request) refuse(v verdict, n int) (nfs3.Stat, error) {
	if v.ok() {
		return nfs3.StatOK, nil
	}
	if v.garbage {
		// Counted with the other GARBAGE_ARGS replies (noteGarbage).
		return 0, &garbageError{why: v.why, limit: v.limit, len: n}
	}
	req.s.reject(v.why, req.prog, req.proc, req.c.remote, "limit", v.limit, "len", n, "status", v.status.String())
	return v.status, nil
}
