package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// readlink serves NFSPROC3_READLINK: from the cache while the link is
// unchanged and fresh, otherwise from the upstream.
func readlink(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReadlinkArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.ReadlinkRes
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK {
		if target, ok := v.meta.Readlink(a.Object); ok {
			if attr, fresh, ok := v.meta.Attr(a.Object); ok && fresh {
				res = nfs3.ReadlinkRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: attr}, Path: target}
				res.Encode(w)
				return nil
			}
		}
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReadlinkRes{Status: st}
	}
	if v != nil {
		v.meta.PutPostOp(a.Object, res.Attr)
		switch res.Status {
		case nfs3.StatOK:
			v.meta.PutReadlink(a.Object, res.Path)
		case nfs3.StatStale:
			req.stale(v, a.Object)
		}
	}
	res.Encode(w)
	return nil
}
