package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// link serves NFSPROC3_LINK: forwarded; the new name and the file's new
// attributes (link count) go into the caches. The new name is checked
// first (checkName).
func link(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.LinkArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	var res nfs3.LinkRes
	if st, err := req.checkName(a.Link.Name, useCreate); err != nil {
		return err
	} else if st != nfs3.StatOK {
		res = nfs3.LinkRes{Status: st}
		req.status = st
		res.Encode(w)
		return nil
	}
	v, st := req.resolve2(&a.File, &a.Link.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.LinkRes{Status: st}
	}
	if v != nil {
		v.meta.ApplyWcc(a.Link.Dir, res.LinkDirWcc)
		v.meta.PutPostOp(a.File, res.FileAttr)
		if res.Status == nfs3.StatOK && !res.FileAttr.Set {
			// The link count changed and the reply did not say to what.
			v.meta.Invalidate(a.File, coherency.CauseOwnOp)
		}
		v.meta.ForgetName(a.Link.Dir, a.Link.Name)
		if res.Status == nfs3.StatOK {
			v.meta.PutName(a.Link.Dir, a.Link.Name, a.File)
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
