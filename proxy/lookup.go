package proxy

import (
	"bytes"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// lookup serves NFSPROC3_LOOKUP: from the name cache (positive and
// negative) while the directory is unchanged and fresh and the caller may
// search it; otherwise from the upstream, whose answer fills the caches.
// The name is checked first (checkName); ".." in the volume's root is the
// root itself, answered here whatever the upstream would make of it.
func lookup(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.LookupArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.LookupRes
	if st, err := req.checkName(a.What.Name, useLookup); err != nil {
		return err
	} else if st != nfs3.StatOK {
		res.Status = st
		res.Encode(w)
		return nil
	}
	v, st := req.resolve(&a.What.Dir)
	if st == nfs3.StatOK && a.What.Name == ".." && bytes.Equal(a.What.Dir, v.ready.Load().upstreamRoot) {
		req.lookupRootParent(v, a.What.Dir, &res)
		req.finishLookup(v, &res, w)
		return nil
	}
	if st == nfs3.StatOK {
		if req.lookupCached(v, &a, &res) {
			req.finishLookup(v, &res, w)
			return nil
		}
		st = req.forward(v, &a, &res)
		if st != nfs3.StatOK && req.serveStale(v, func() bool { return req.lookupStale(v, &a, &res) }) {
			req.finishLookup(v, &res, w)
			return nil
		}
	}
	if st != nfs3.StatOK {
		res = nfs3.LookupRes{Status: st}
	}
	if v != nil {
		// PutLookup records the attributes and the (positive or
		// negative) name only under the directory version the reply
		// carried.
		v.meta.PutLookup(a.What.Dir, a.What.Name, &res)
		switch res.Status {
		case nfs3.StatOK, nfs3.StatNoEnt:
			// The upstream searched the directory for this caller: it
			// may (a cached answer needs no other proof, also for root).
			v.meta.PutAccess(a.What.Dir, req.cred.Key(), nfs3.AccessLookup, nfs3.AccessLookup)
		case nfs3.StatStale:
			req.stale(v, a.What.Dir)
		}
	}
	req.finishLookup(v, &res, w)
	return nil
}

// lookupRootParent answers LOOKUP(root, ".."): the root, as knfsd answers
// at an export's root, after the same search-permission check as any
// LOOKUP. Its attributes come from the cache while fresh, else from a
// GETATTR.
func (req *request) lookupRootParent(v *volume, root nfs3.FH, res *nfs3.LookupRes) {
	attr, fresh, cached := v.meta.Attr(root)
	if !cached || !fresh {
		var g nfs3.GetattrRes
		st := req.call(v, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: root}, &g)
		if st == nfs3.StatOK {
			req.noteGetattr(v, root, &g)
			st = g.Status
		}
		switch {
		case st == nfs3.StatOK:
			attr = g.Attr
		case cached && req.serveStale(v, func() bool { return true }):
			// attr: the cached attributes, of any age
		default:
			*res = nfs3.LookupRes{Status: st}
			return
		}
	}
	dir := nfs3.PostOpAttr{Set: true, Attr: attr}
	if !req.mayAccess(v, root, &attr, nfs3.AccessLookup, coherency.PermExec) {
		*res = nfs3.LookupRes{Status: nfs3.StatAcces, DirAttr: dir}
		return
	}
	*res = nfs3.LookupRes{Status: nfs3.StatOK, Object: root, ObjAttr: dir, DirAttr: dir}
}

// lookupCached answers from the caches when it can.
func (req *request) lookupCached(v *volume, a *nfs3.LookupArgs, res *nfs3.LookupRes) bool {
	e, ok := v.meta.Lookup(a.What.Dir, a.What.Name)
	if !ok {
		return false
	}
	dattr, fresh, ok := v.meta.Attr(a.What.Dir)
	if !ok || !fresh || !req.mayAccess(v, a.What.Dir, &dattr, nfs3.AccessLookup, coherency.PermExec) {
		return false
	}
	dir := nfs3.PostOpAttr{Set: true, Attr: dattr}
	if e.Negative {
		*res = nfs3.LookupRes{Status: nfs3.StatNoEnt, DirAttr: dir}
		return true
	}
	oattr, fresh, ok := v.meta.Attr(e.FH)
	if !ok || !fresh {
		return false
	}
	*res = nfs3.LookupRes{Status: nfs3.StatOK, Object: e.FH, ObjAttr: nfs3.PostOpAttr{Set: true, Attr: oattr}, DirAttr: dir}
	return true
}

// finishLookup wraps the handle and encodes the reply. The proxy handle
// is built on the stack: it is only encoded.
func (req *request) finishLookup(v *volume, res *nfs3.LookupRes, w *xdr.Writer) {
	if res.Status != nfs3.StatOK {
		res.Encode(w)
		return
	}
	if len(res.Object) > MaxUpstreamHandle || len(res.Object) == 0 {
		req.s.log.Error("upstream handle too long to wrap", "volume", v.ID, "len", len(res.Object), "max", MaxUpstreamHandle)
		*res = nfs3.LookupRes{Status: nfs3.StatServerFault, DirAttr: res.DirAttr}
		res.Encode(w)
		return
	}
	var fh [nfs3.FHSize]byte
	out := *res
	out.Object = appendHandle(fh[:0], v.ID, res.Object)
	out.Encode(w)
}
