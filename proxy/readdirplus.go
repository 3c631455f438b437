package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// readdirplus serves NFSPROC3_READDIRPLUS. Pages are cached per directory
// and argument set, so a re-listing gets the same cookies and verifier. A
// listing that starts at cookie 0 first revalidates the directory upstream
// (except on static volumes), so files created elsewhere show up at once.
func readdirplus(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReaddirplusArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.ReaddirplusRes
	v, st := req.resolve(&a.Dir)
	if st == nfs3.StatOK {
		if req.listingUsable(v, a.Dir, a.Cookie) {
			if cached, ok := v.meta.Readdirplus(a.Dir, &a); ok {
				req.finishReaddirplus(v, cached, w)
				return nil
			}
		}
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReaddirplusRes{Status: st}
	}
	if v != nil {
		v.meta.PutReaddirplus(a.Dir, &a, &res)
		if res.Status == nfs3.StatOK {
			v.meta.PutAccess(a.Dir, req.cred.Key(), nfs3.AccessRead, nfs3.AccessRead) // it listed: it may
		}
		if res.Status == nfs3.StatStale {
			req.stale(v, a.Dir)
		}
	}
	req.finishReaddirplus(v, &res, w)
	return nil
}

// listingUsable revalidates dir for a listing from cookie 0 and reports
// whether the caller may be served a cached listing of it.
func (req *request) listingUsable(v *volume, dir nfs3.FH, cookie uint64) bool {
	var attr nfs3.Fattr3
	var ok bool
	if cookie == 0 && v.meta.Mode() != coherency.ModeStatic {
		attr, ok = req.revalidate(v, dir)
	} else {
		attr, ok = req.attrs(v, dir)
	}
	return ok && req.mayAccess(v, dir, &attr, nfs3.AccessRead, coherency.PermRead)
}

func (req *request) finishReaddirplus(v *volume, res *nfs3.ReaddirplusRes, w *xdr.Writer) {
	if res.Status == nfs3.StatOK {
		for i := range res.Entries {
			req.wrapPostOpFH(v, &res.Entries[i].FH)
		}
	}
	res.Encode(w)
}
