package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rename serves NFSPROC3_RENAME. The data cache is keyed by handle, so a
// rename costs it nothing; the caches follow coherency's RENAME rule (the
// names in both directories are updated, the attributes of the moved
// object and everything cached for an object it replaced are dropped). Both names are checked
// first (checkName); a refused one is answered without a call upstream.
func rename(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RenameArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.RenameRes
	var moved, replaced nfs3.FH
	st, err := req.checkName(a.From.Name, useRename)
	if st == nfs3.StatOK && err == nil {
		st, err = req.checkName(a.To.Name, useRename)
	}
	if err != nil {
		return err
	}
	if st != nfs3.StatOK {
		res = nfs3.RenameRes{Status: st}
		res.Encode(w)
		return nil
	}
	v, st := req.resolve2(&a.From.Dir, &a.To.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		moved = req.cachedChild(v, &a.From)
		replaced = req.childOf(v, &a.To)
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.RenameRes{Status: st}
	}
	if v != nil {
		v.afterChange(&coherency.Change{Proc: nfs3.ProcRename, Status: res.Status,
			Dir: a.From.Dir, Name: a.From.Name, DirWcc: res.FromDirWcc,
			ToDir: a.To.Dir, ToName: a.To.Name, ToDirWcc: res.ToDirWcc,
			Old: replaced, Moved: moved}, nil, 0)
	}
	res.Encode(w)
	return nil
}
