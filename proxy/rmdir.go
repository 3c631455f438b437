package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rmdir serves NFSPROC3_RMDIR: forwarded with the caller's credential; the
// name becomes a negative entry and the removed object's attributes are
// dropped.
func rmdir(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RmdirArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.RmdirRes
	var child nfs3.FH
	v, st := req.resolve(&a.Object.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		child = req.cachedChild(v, &a.Object)
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.RmdirRes{Status: st}
	}
	if v != nil {
		req.afterRemove(v, &a.Object, res.Status, res.DirWcc, child)
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
