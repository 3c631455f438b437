package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// readdirplus serves NFSPROC3_READDIRPLUS: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func readdirplus(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReaddirplusArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.ReaddirplusRes
	v, st := req.resolve(&a.Dir)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReaddirplusRes{Status: st}
	}
	if res.Status == nfs3.StatOK {
		for i := range res.Entries {
			req.wrapPostOpFH(v, &res.Entries[i].FH)
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
