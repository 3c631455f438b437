package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// pathconf serves NFSPROC3_PATHCONF: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func pathconf(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.PathconfArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.PathconfRes
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.PathconfRes{Status: st}
	}
	if v != nil {
		req.notePostOp(v, a.Object, res.Attr, res.Status)
	}
	res.Encode(w)
	return nil
}
