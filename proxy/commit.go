package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// commit serves NFSPROC3_COMMIT: forwarded unchanged, so the client
// compares the upstream's own write verifier.
func commit(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.CommitArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.CommitRes
	v, st := req.resolve(&a.File)
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.CommitRes{Status: st}
	}
	if v != nil {
		v.afterChange(&coherency.Change{Proc: nfs3.ProcCommit, Status: res.Status, Obj: a.File, ObjWcc: res.Wcc}, nil, 0)
	}
	res.Encode(w)
	return nil
}
