package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// create serves NFSPROC3_CREATE: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func create(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.CreateArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.CreateRes
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
	if res.Status == nfs3.StatOK {
		req.wrapPostOpFH(v, &res.Obj)
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
