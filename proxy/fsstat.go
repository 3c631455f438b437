package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// fsstat serves NFSPROC3_FSSTAT: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func fsstat(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.FsstatArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.FsstatRes
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.FsstatRes{Status: st}
	}
	if v != nil {
		req.notePostOp(v, a.Object, res.Attr, res.Status)
	}
	res.Encode(w)
	return nil
}
