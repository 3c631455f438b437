package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// fsinfo serves NFSPROC3_FSINFO: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func fsinfo(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.FsinfoArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.FsinfoRes
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.FsinfoRes{Status: st}
	}
	if res.Status == nfs3.StatOK {
		// The one field we change: transfer sizes are capped at what the
		// proxy carries in one record.
		maxIO := uint32(req.s.opts.MaxIO)
		res.RtMax = min(res.RtMax, maxIO)
		res.RtPref = min(res.RtPref, maxIO)
		res.WtMax = min(res.WtMax, maxIO)
		res.WtPref = min(res.WtPref, maxIO)
		res.DtPref = min(res.DtPref, maxIO)
	}
	if v != nil {
		req.notePostOp(v, a.Object, res.Attr, res.Status)
	}
	res.Encode(w)
	return nil
}
