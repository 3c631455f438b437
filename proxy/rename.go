package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rename serves NFSPROC3_RENAME: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func rename(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RenameArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.RenameRes
	v, st := req.resolve2(&a.From.Dir, &a.To.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.RenameRes{Status: st}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
