package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// lookup serves NFSPROC3_LOOKUP: forwarded by handle with the caller's
// credential; the result comes back as the upstream sent it.
func lookup(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.LookupArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.LookupRes
	v, st := req.resolve(&a.What.Dir)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.LookupRes{Status: st}
	}
	if res.Status == nfs3.StatOK {
		fh, ok := v.wrap(res.Object)
		if !ok {
			req.s.log.Error("upstream handle too long to wrap", "volume", v.ID, "len", len(res.Object), "max", MaxUpstreamHandle)
			res = nfs3.LookupRes{Status: nfs3.StatServerFault, DirAttr: res.DirAttr}
		} else {
			res.Object = fh
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
