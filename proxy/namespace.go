package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Namespace operations the proxy forwards itself. The cache upkeep after
// them is coherency's table (Cache.AfterChange, via volume.afterChange);
// what the proxy adds is finding the object a REMOVE, RMDIR or RENAME
// removes or replaces before the change (childOf).

// serveCreate serves CREATE, MKDIR, SYMLINK and MKNOD, whose results share
// one wire shape (CREATE3res): forwarded with the caller's credential; the
// new name and object go into the caches. where points into args, so
// resolving it rewrites the arguments to the upstream handle. The name
// (and target, SYMLINK's, nil for the others) is checked first: a refused one is answered
// without a call upstream and leaves the caches alone.
func (req *request) serveCreate(args xdr.Encoder, where *nfs3.DirOpArgs, target *string, w *xdr.Writer) error {
	var res nfs3.CreateRes
	st, err := req.checkName(where.Name, useCreate)
	if target != nil && st == nfs3.StatOK && err == nil {
		st, err = req.refuse(checkSymlinkTarget(*target), len(*target))
	}
	if err != nil {
		return err
	}
	if st != nfs3.StatOK {
		res = nfs3.CreateRes{Status: st}
		res.Encode(w)
		return nil
	}
	v, st := req.resolve(&where.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		st = req.forward(v, args, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.CreateRes{Status: st}
	}
	if v != nil {
		ch := coherency.Change{Proc: req.proc, Status: res.Status, ObjAttr: res.ObjAttr,
			Dir: where.Dir, Name: where.Name, DirWcc: res.DirWcc}
		if res.Obj.Set {
			ch.Obj = res.Obj.FH
		}
		v.afterChange(&ch, nil, 0)
		if res.Status == nfs3.StatOK {
			req.wrapPostOpFH(v, &res.Obj)
		}
	}
	res.Encode(w)
	return nil
}

// serveRemove serves REMOVE and RMDIR (one wire shape, REMOVE3res): the
// name becomes a negative entry and the removed object's cached attributes
// and data are dropped. A refused name (checkName) is answered without a
// call upstream.
func (req *request) serveRemove(args xdr.Encoder, obj *nfs3.DirOpArgs, w *xdr.Writer) error {
	var res nfs3.RemoveRes
	var child nfs3.FH
	if st, err := req.checkName(obj.Name, useRemove); err != nil {
		return err
	} else if st != nfs3.StatOK {
		res = nfs3.RemoveRes{Status: st}
		res.Encode(w)
		return nil
	}
	v, st := req.resolve(&obj.Dir)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	if st == nfs3.StatOK {
		child = req.childOf(v, obj)
		st = req.forward(v, args, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.RemoveRes{Status: st}
	}
	if v != nil {
		v.afterChange(&coherency.Change{Proc: req.proc, Status: res.Status,
			Dir: obj.Dir, Name: obj.Name, DirWcc: res.DirWcc, Old: child}, nil, 0)
	}
	res.Encode(w)
	return nil
}

// childOf returns the handle of the object d names, for the upkeep after
// an operation that removes or replaces it, or nil if there is none: the
// handle the name was last recorded to lead to (coherency's NameHint,
// exact for every change made through the proxy, even when concurrent
// changes of the directory made its fresh names unusable), else a fresh
// negative entry (nothing to upkeep), else one upstream LOOKUP with the
// caller's credential, whose answer is cached like any other. Knowing the
// object matters because its cached attributes (link count, ctime) change
// with the operation: without it, a name the cache had forgotten — a
// RENAME forgets both names — left them stale (the Connectathon sequence
// CREATE f; RENAME f n; LINK n f; REMOVE n; GETATTR f answered nlink 2
// from the cache). The LOOKUP costs a round trip before the operation, so
// it is kept for names the proxy has no record of: with four clients
// creating, writing and removing files in one directory, the fresh-only
// rule made 132 LOOKUPs for 200 REMOVEs.
func (req *request) childOf(v *volume, d *nfs3.DirOpArgs) nfs3.FH {
	if fh, ok := v.meta.NameHint(d.Dir, d.Name); ok {
		return fh
	}
	if e, ok := v.meta.Lookup(d.Dir, d.Name); ok {
		if e.Negative {
			return nil
		}
		return e.FH
	}
	if d.Name == "." || d.Name == ".." {
		return nil
	}
	var res nfs3.LookupRes
	if st := req.call(v, nfs3.ProcLookup, &nfs3.LookupArgs{What: *d}, &res); st != nfs3.StatOK || res.Status != nfs3.StatOK {
		return nil
	}
	v.meta.PutLookup(d.Dir, d.Name, &res)
	return res.Object
}

// cachedChild returns the handle the name was last recorded to lead to
// (NameHint), if any, without asking the upstream: for the object a RENAME
// moves, whose link count does not change (its ctime does; the cached
// attributes are dropped when the handle is known, and otherwise age out
// by the mode).
func (req *request) cachedChild(v *volume, d *nfs3.DirOpArgs) nfs3.FH {
	if fh, ok := v.meta.NameHint(d.Dir, d.Name); ok {
		return fh
	}
	return nil
}
