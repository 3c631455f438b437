package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// link serves NFSPROC3_LINK: forwarded; the caches follow coherency's LINK
// rule (the new name and the file's new attributes, its link count). The new name is checked
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
		v.afterChange(&coherency.Change{Proc: nfs3.ProcLink, Status: res.Status, Obj: a.File, ObjAttr: res.FileAttr,
			Dir: a.Link.Dir, Name: a.Link.Name, DirWcc: res.LinkDirWcc}, nil, 0)
	}
	res.Encode(w)
	return nil
}
