package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// readdir serves NFSPROC3_READDIR: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func readdir(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReaddirArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.ReaddirRes
	v, st := req.resolve(&a.Dir)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReaddirRes{Status: st}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
