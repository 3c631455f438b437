package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// access serves NFSPROC3_ACCESS: from the ACCESS cache for this
// (handle, credential) while the object is unchanged and fresh, otherwise
// from the upstream.
func access(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.AccessArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	v, st := req.resolve(&a.Object)
	if st == nfs3.StatOK {
		if granted, ok := v.meta.Access(a.Object, req.cred.Key(), a.Access); ok {
			if attr, fresh, ok := v.meta.Attr(a.Object); ok && fresh {
				res := nfs3.AccessRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: attr}, Access: granted}
				res.Encode(w)
				return nil
			}
		}
	}
	req.accessForward(v, a, st, w)
	return nil
}

// accessForward answers an ACCESS the cache did not: forwarded, or with
// status st when that is not OK. (A separate function, so that only this
// path pays for arguments and results on the heap.)
func (req *request) accessForward(v *volume, a nfs3.AccessArgs, st nfs3.Stat, w *xdr.Writer) {
	var res nfs3.AccessRes
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
		if st != nfs3.StatOK && req.serveStale(v, func() bool { return req.accessStale(v, &a, &res) }) {
			res.Encode(w)
			return
		}
	}
	if st != nfs3.StatOK {
		res = nfs3.AccessRes{Status: st}
	}
	if v != nil {
		v.meta.PutPostOp(a.Object, res.Attr)
		switch res.Status {
		case nfs3.StatOK:
			v.meta.PutAccess(a.Object, req.cred.Key(), a.Access, res.Access)
		case nfs3.StatStale:
			req.stale(v, a.Object)
		}
	}
	res.Encode(w)
}

// accessFromMode grants the read and search bits of want that the mode
// allows, and nothing that changes the object: while the upstream is
// unreachable nothing can be changed anyway.
func accessFromMode(a *nfs3.Fattr3, c *rpc.Cred, want uint32) uint32 {
	var granted uint32
	if want&nfs3.AccessRead != 0 && coherency.Permits(a, c, coherency.PermRead) {
		granted |= nfs3.AccessRead
	}
	if want&nfs3.AccessLookup != 0 && a.Type == nfs3.TypeDir && coherency.Permits(a, c, coherency.PermExec) {
		granted |= nfs3.AccessLookup
	}
	if want&nfs3.AccessExecute != 0 && a.Type != nfs3.TypeDir && coherency.Permits(a, c, coherency.PermExec) {
		granted |= nfs3.AccessExecute
	}
	return granted
}
