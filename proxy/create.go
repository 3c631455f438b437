package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// create serves NFSPROC3_CREATE: forwarded with the caller's credential; the
// new name and object go into the caches.
func create(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.CreateArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.CreateRes
	where := a.Where
	v, st := req.resolve(&a.Where.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.CreateRes{Status: st}
	}
	if v != nil {
		where.Dir = a.Where.Dir
		req.afterCreate(v, &where, res.Status, res.Obj, res.ObjAttr, res.DirWcc)
		if res.Status == nfs3.StatOK {
			req.wrapPostOpFH(v, &res.Obj)
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
