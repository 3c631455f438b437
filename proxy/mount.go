package proxy

import (
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

// lookupVolume finds the volume for a MNT path: the volume name itself, with
// trailing slashes ignored.
func (s *Server) lookupVolume(path string) *volume {
	if p := strings.TrimRight(path, "/"); p != "" {
		path = p
	}
	return s.byName[path]
}

// mnt serves MOUNTPROC3_MNT: the proxy handle of the volume's root. A
// dirpath over MNTPATHLEN, relative, or with NUL or "." or ".."
// components is refused before the volumes are searched (checkMountPath).
func mnt(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.MntArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.MntRes
	var v *volume
	mv := checkMountPath(a.Path)
	if mv.why == reasonNone {
		v = req.s.lookupVolume(a.Path)
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
	default:
		res.Status = nfs3.MountOK
		res.FH = v.root
		res.AuthFlavors = []uint32{rpc.AuthSys}
		req.s.mounts.add(req.clientHost(), v.Name)
		req.s.log.Info("mount", "client", req.clientHost(), "volume", v.ID, "path", v.Name)
	}
	res.Encode(w)
	return nil
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
