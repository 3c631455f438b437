package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// read serves NFSPROC3_READ: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func read(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReadArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.ReadRes
	v, st := req.resolve(&a.File)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReadRes{Status: st}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
