package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rename serves NFSPROC3_RENAME. The data cache is keyed by handle, so a
// rename costs it nothing; the names in both directories are updated and
// the attributes of the moved object and of any object it replaced are
// dropped (their ctime or link count changed). Both names are checked
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
		req.status = st
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
		v.meta.ApplyWcc(a.From.Dir, res.FromDirWcc)
		if string(a.To.Dir) != string(a.From.Dir) {
			// Within one directory both WCC records describe the same
			// change: applying it twice would look like someone else's.
			v.meta.ApplyWcc(a.To.Dir, res.ToDirWcc)
		}
		v.meta.ForgetName(a.From.Dir, a.From.Name)
		v.meta.ForgetName(a.To.Dir, a.To.Name)
		// A rename onto itself, or between two names of one file, succeeds
		// and leaves both names in place (POSIX rename(2)): the old name is
		// known gone only when the target was absent or another object.
		sameFile := replaced != nil && (moved == nil || string(moved) == string(replaced))
		sameName := string(a.From.Dir) == string(a.To.Dir) && a.From.Name == a.To.Name
		if res.Status == nfs3.StatOK && !sameFile && !sameName {
			v.meta.PutNegative(a.From.Dir, a.From.Name)
		}
		if res.Status == nfs3.StatOK {
			if replaced != nil {
				v.meta.Invalidate(replaced, coherency.CauseOwnOp)
			}
			if moved != nil {
				v.meta.Invalidate(moved, coherency.CauseOwnOp)
			}
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
