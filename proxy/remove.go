package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// remove serves NFSPROC3_REMOVE: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func remove(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RemoveArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.RemoveRes
	v, st := req.resolve(&a.Object.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.RemoveRes{Status: st}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
