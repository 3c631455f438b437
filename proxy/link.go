package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// link serves NFSPROC3_LINK: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func link(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.LinkArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.LinkRes
	v, st := req.resolve2(&a.File, &a.Link.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.LinkRes{Status: st}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
