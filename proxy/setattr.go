package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// setattr serves NFSPROC3_SETATTR, guard included, forwarded as is; the
// caches follow coherency's SETATTR rule (a change of mode, owner or times
// that WCC shows to be ours alone keeps the cached data, whose record
// adopts the new ctime; a size change drops it).
func setattr(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.SetattrArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.SetattrRes
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.SetattrRes{Status: st}
	}
	if v != nil {
		v.afterChange(&coherency.Change{Proc: nfs3.ProcSetattr, Status: res.Status,
			Obj: a.Object, ObjWcc: res.Wcc, SetSize: a.New.SetSize}, nil, 0)
	}
	res.Encode(w)
	return nil
}
