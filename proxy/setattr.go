package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// setattr serves NFSPROC3_SETATTR, guard included, forwarded as is. A
// change of mode, owner or times that WCC shows to be ours alone keeps the
// cached data (its record adopts the new ctime); a size change drops it.
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
		ours := v.meta.ApplyWcc(a.Object, res.Wcc)
		if v.Data != nil {
			switch {
			case res.Status == nfs3.StatOK && ours && !a.New.SetSize && res.Wcc.Before.Set && res.Wcc.After.Set:
				pre := wccCoherency(res.Wcc.After.Attr.FileID, &res.Wcc.Before.Attr)
				v.Data.WroteAt(a.Object, pre, coherencyOf(&res.Wcc.After.Attr), nil, 0)
			case res.Status == nfs3.StatOK || !ours:
				v.Data.Invalidate(a.Object)
			}
		}
		if res.Status == nfs3.StatStale {
			req.stale(v, a.Object)
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
