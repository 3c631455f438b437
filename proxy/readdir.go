package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// readdir serves NFSPROC3_READDIR, cached like READDIRPLUS.
func readdir(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReaddirArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.ReaddirRes
	v, st := req.resolve(&a.Dir)
	if st == nfs3.StatOK {
		if req.listingUsable(v, a.Dir, a.Cookie) {
			if cached, ok := v.meta.Readdir(a.Dir, &a); ok {
				cached.Encode(w)
				return nil
			}
		}
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReaddirRes{Status: st}
	}
	if v != nil {
		v.meta.PutReaddir(a.Dir, &a, &res)
		if res.Status == nfs3.StatOK {
			v.meta.PutAccess(a.Dir, req.cred.Key(), nfs3.AccessRead, nfs3.AccessRead) // it listed: it may
		}
		if res.Status == nfs3.StatStale {
			req.stale(v, a.Dir)
		}
	}
	res.Encode(w)
	return nil
}
