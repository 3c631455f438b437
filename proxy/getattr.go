package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// getattr serves NFSPROC3_GETATTR: from the attribute cache while the
// attributes are fresh (ttl and static modes), otherwise — and always in
// cto mode — from the upstream, whose answer revalidates the cache.
func getattr(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.GetattrArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK && !v.meta.ForwardGetattr() {
		if attr, fresh, ok := v.meta.Attr(a.Object); ok && fresh {
			res := nfs3.GetattrRes{Status: nfs3.StatOK, Attr: attr}
			res.Encode(w)
			return nil
		}
	}
	req.getattrForward(v, a, st, w)
	return nil
}

// getattrForward answers a GETATTR the cache did not: forwarded, or with
// status st when that is not OK. (A separate function, so that only this
// path pays for arguments and results on the heap.)
func (req *request) getattrForward(v *volume, a nfs3.GetattrArgs, st nfs3.Stat, w *xdr.Writer) {
	var res nfs3.GetattrRes
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
		if st != nfs3.StatOK && req.serveStale(v, func() bool {
			res.Status = nfs3.StatOK
			return req.attrStale(v, a.Object, &res.Attr)
		}) {
			res.Encode(w)
			return
		}
	}
	if st != nfs3.StatOK {
		res = nfs3.GetattrRes{Status: st}
	}
	if v != nil {
		req.noteGetattr(v, a.Object, &res)
	}
	res.Encode(w)
}

// noteGetattr feeds a GETATTR answer to the caches.
func (req *request) noteGetattr(v *volume, fh nfs3.FH, res *nfs3.GetattrRes) {
	switch res.Status {
	case nfs3.StatOK:
		v.meta.PutAttr(fh, res.Attr)
	case nfs3.StatStale, nfs3.StatBadHandle:
		req.stale(v, fh)
	}
}

// stale drops everything cached for an object the upstream no longer knows.
func (req *request) stale(v *volume, fh nfs3.FH) {
	v.meta.Invalidate(fh, coherency.CauseStale)
	if v.Data != nil {
		v.Data.Invalidate(fh)
	}
}

// revalidate fetches fh's attributes from the upstream with the caller's
// credential and records them. ok is false when the upstream did not
// answer with attributes.
func (req *request) revalidate(v *volume, fh nfs3.FH) (nfs3.Fattr3, bool) {
	a := nfs3.GetattrArgs{Object: fh}
	var res nfs3.GetattrRes
	if st := req.call(v, nfs3.ProcGetattr, &a, &res); st != nfs3.StatOK {
		return nfs3.Fattr3{}, false
	}
	req.noteGetattr(v, fh, &res)
	return res.Attr, res.Status == nfs3.StatOK
}

// attrs returns fh's attributes: cached and fresh, or revalidated.
func (req *request) attrs(v *volume, fh nfs3.FH) (nfs3.Fattr3, bool) {
	if a, fresh, ok := v.meta.Attr(fh); ok && fresh {
		return a, true
	}
	return req.revalidate(v, fh)
}
