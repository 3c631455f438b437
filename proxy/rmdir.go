package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rmdir serves NFSPROC3_RMDIR: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func rmdir(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RmdirArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.RmdirRes
	v, st := req.resolve(&a.Object.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.RmdirRes{Status: st}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
