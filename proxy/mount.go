package proxy

import (
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// mountTable is the MOUNT protocol's advisory list of (client, path), shown
// by DUMP. It is bounded so a client looping on MNT cannot grow it.
type mountTable struct {
	mu      sync.Mutex // guards entries
	entries []nfs3.MountEntry
}

const maxMountEntries = 4096

func (t *mountTable) add(host, dir string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := nfs3.MountEntry{Hostname: host, Dir: dir}
	if slices.Contains(t.entries, e) || len(t.entries) >= maxMountEntries {
		return
	}
	t.entries = append(t.entries, e)
}

func (t *mountTable) remove(host, dir string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries = slices.DeleteFunc(t.entries, func(e nfs3.MountEntry) bool {
		return e.Hostname == host && (dir == "" || e.Dir == dir)
	})
}

func (t *mountTable) list() []nfs3.MountEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.entries)
}

// clientHost names the caller for the mount table: its address (AUTH_SYS
// machine names are the client's own claim).
func (req *request) clientHost() string { return req.c.remote.Addr().String() }

// lookupVolume finds the volume for a MNT path and the components of the
// path below it: the volume whose name is the path, or its longest prefix
// ending at a component boundary (trailing slashes ignored), as knfsd and
// nfs-ganesha let clients mount any directory below an export.
func (s *Server) lookupVolume(path string) (*volume, []string) {
	p := strings.TrimRight(path, "/")
	if p == "" {
		p = "/"
	}
	for cut := p; ; {
		if v := s.byName[cut]; v != nil {
			var below []string
			for c := range strings.SplitSeq(p[len(cut):], "/") {
				if c != "" {
					below = append(below, c)
				}
			}
			return v, below
		}
		i := strings.LastIndexByte(cut, '/')
		switch {
		case i > 0:
			cut = cut[:i]
		case cut != "/":
			cut = "/"
		default:
			return nil, nil
		}
	}
}

// mnt serves MOUNTPROC3_MNT: the proxy handle of the volume's root, or of
// a directory below it (one upstream LOOKUP per component, with the
// caller's credential after the volume's squashing, so the upstream's
// permissions apply). A dirpath over MNTPATHLEN, relative, or with NUL or
// "." or ".." components is refused before the volumes are searched
// (checkMountPath).
func mnt(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.MntArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.MntRes
	var v *volume
	var below []string
	mv := checkMountPath(a.Path)
	if mv.why == reasonNone {
		v, below = req.s.lookupVolume(a.Path)
	}
	switch {
	case mv.why != reasonNone:
		req.s.reject(mv.why, req.prog, req.proc, req.c.remote, "limit", mv.limit, "len", len(a.Path), "status", mv.status.String())
		res.Status = mv.status
	case v == nil:
		res.Status = nfs3.MountErrNoEnt
	case !v.live.Load().Policy.allows(req.c.remote):
		req.s.stats.refused.Add(1)
		req.s.log.Warn("mount refused", "client", req.c.remote.String(), "volume", v.ID, "path", v.Name)
		res.Status = nfs3.MountErrAcces
	case v.ready.Load() == nil:
		// Pending: the upstream has not been mounted yet.
		res.Status = nfs3.MountErrServerFault
	default:
		fh := v.ready.Load().root
		if len(below) > 0 {
			fh, res.Status = req.mountBelow(v, below)
		}
		if res.Status == nfs3.MountOK {
			res.FH = fh
			res.AuthFlavors = []uint32{rpc.AuthSys}
			dir := path.Join(v.Name, strings.Join(below, "/"))
			req.s.mounts.add(req.clientHost(), dir)
			req.s.log.Info("mount", "client", req.clientHost(), "volume", v.ID, "path", dir)
		}
	}
	res.Encode(w)
	return nil
}

// mountBelow walks the components below v's root with upstream LOOKUPs and
// returns the proxy handle of the directory they name.
func (req *request) mountBelow(v *volume, below []string) (nfs3.FH, nfs3.MountStat) {
	v.live.Load().Policy.squash(&req.cred)
	req.vol = v
	vr := v.ready.Load()
	dir := vr.upstreamRoot
	for _, name := range below {
		if len(name) > nfs3.MaxName {
			return nil, nfs3.MountErrNameTooLong
		}
		var res nfs3.LookupRes
		if st := req.call(v, nfs3.ProcLookup, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: dir, Name: name}}, &res); st != nfs3.StatOK {
			return nil, nfs3.MountErrServerFault
		}
		switch res.Status {
		case nfs3.StatOK:
		case nfs3.StatNoEnt:
			return nil, nfs3.MountErrNoEnt
		case nfs3.StatAcces, nfs3.StatPerm:
			return nil, nfs3.MountErrAcces
		case nfs3.StatNotDir:
			return nil, nfs3.MountErrNotDir
		case nfs3.StatNameTooLong:
			return nil, nfs3.MountErrNameTooLong
		default:
			return nil, nfs3.MountErrServerFault
		}
		v.meta.PutLookup(dir, name, &res)
		dir = res.Object
		if len(vr.fsids) > 0 && req.checkFSID(v, vr.fsids, dir) != nfs3.StatOK {
			return nil, nfs3.MountErrAcces // another filesystem, and cross_mounts is off
		}
	}
	a, ok := req.attrs(v, dir)
	if !ok {
		return nil, nfs3.MountErrServerFault
	}
	if a.Type != nfs3.TypeDir {
		return nil, nfs3.MountErrNotDir
	}
	fh, ok := v.wrap(dir)
	if !ok {
		req.s.log.Error("upstream handle too long to wrap", "volume", v.ID, "len", len(dir), "max", MaxUpstreamHandle)
		return nil, nfs3.MountErrServerFault
	}
	return fh, nfs3.MountOK
}

// umnt serves MOUNTPROC3_UMNT.
func umnt(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.UmntArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	req.s.mounts.remove(req.clientHost(), strings.TrimRight(a.Path, "/"))
	return nil
}

// umntall serves MOUNTPROC3_UMNTALL.
func umntall(req *request, r *xdr.Reader, w *xdr.Writer) error {
	req.s.mounts.remove(req.clientHost(), "")
	return nil
}

// dump serves MOUNTPROC3_DUMP.
func dump(req *request, r *xdr.Reader, w *xdr.Writer) error {
	res := nfs3.DumpRes{Mounts: req.s.mounts.list()}
	res.Encode(w)
	return nil
}

// export serves MOUNTPROC3_EXPORT: every volume, in id order.
func export(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var res nfs3.ExportRes
	for _, cfg := range req.s.opts.Volumes {
		v := req.s.vols[cfg.ID]
		res.Exports = append(res.Exports, nfs3.ExportNode{Dir: v.Name, Groups: v.live.Load().Policy.groups()})
	}
	res.Encode(w)
	return nil
}
