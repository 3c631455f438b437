package coherency

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Change is a state-changing procedure the proxy forwarded and its reply,
// in upstream handles; AfterChange updates the caches from it. Which
// fields a procedure uses is in the table in the package doc.
type Change struct {
	Proc   uint32 // nfs3.ProcSetattr ... nfs3.ProcCommit
	Status nfs3.Stat

	// Obj is the object: the file of SETATTR, WRITE, COMMIT and LINK, the
	// new object of CREATE, MKDIR, SYMLINK and MKNOD (nil if the reply
	// carried no handle). ObjWcc is its WCC data (SETATTR, WRITE,
	// COMMIT), ObjAttr its post-op attributes (CREATE..., LINK).
	Obj     []byte
	ObjWcc  nfs3.WccData
	ObjAttr nfs3.PostOpAttr

	// Dir, Name and DirWcc: the directory entry the procedure names
	// (CREATE..., REMOVE, RMDIR, LINK's new name, RENAME's source).
	Dir    []byte
	Name   string
	DirWcc nfs3.WccData
	// ToDir, ToName and ToDirWcc: RENAME's target.
	ToDir    []byte
	ToName   string
	ToDirWcc nfs3.WccData

	// Old is the object REMOVE or RMDIR removes, or RENAME replaces, nil if
	// none or unknown; the caller finds it before the change, in the name
	// cache or else by a LOOKUP upstream. Moved is the object RENAME
	// moves, if its name is cached (nil otherwise).
	Old, Moved []byte

	// SetSize: SETATTR sets the size.
	SetSize bool

	// WRITE: the token from BeginWrite (EndWrite is called here), the
	// offset and the count the upstream wrote.
	Write  *WriteToken
	Offset uint64
	Count  uint32
}

// Effect is what the caller must do with the file data cache after a
// change (this package does not hold file data).
type Effect struct {
	// KeepData: Obj's cached data stay valid, the change took the file
	// from version Pre (size, mtime, ctime) to Post; the caller tells the
	// data cache, which checks Pre against its own record (WRITE also
	// hands it the bytes written).
	KeepData bool
	Pre      nfs3.WccAttr
	Post     nfs3.Fattr3
	// DropData lists the handles whose cached data must be dropped.
	DropData [][]byte
}

// AfterChange applies the rule of ch.Proc (the table in the package doc)
// to the caches and returns what the caller must do with file data. It is
// the one place that decides what a state-changing procedure refreshes
// and what it invalidates.
func (c *Cache) AfterChange(ch *Change) Effect {
	var eff Effect
	if fh := staleTarget(ch); fh != nil {
		if ch.Write != nil {
			c.finishWrite(*ch.Write)
		}
		c.Invalidate(fh, CauseStale)
		eff.drop(fh)
		return eff
	}
	ok := ch.Status == nfs3.StatOK
	switch ch.Proc {
	case nfs3.ProcSetattr:
		ours := c.ApplyWcc(ch.Obj, ch.ObjWcc)
		switch {
		case ok && ours && !ch.SetSize && ch.ObjWcc.Before.Set && ch.ObjWcc.After.Set:
			eff.keep(&ch.ObjWcc)
		case ok || !ours:
			eff.drop(ch.Obj)
		}

	case nfs3.ProcWrite:
		w := ch.ObjWcc
		if ch.Write != nil {
			c.standIn(*ch.Write, ch.Status, ch.Offset, ch.Count, &w)
			defer c.finishWrite(*ch.Write)
		}
		if !w.Before.Set {
			// No pre-op attributes and none could stand in: the post-op
			// ones are kept only as expired (expireAttr). Replies of
			// concurrent writes may be handled in another order than the
			// upstream applied them, and an older version cached as fresh
			// could later stand in for the pre-op attributes of a write
			// it does not precede.
			c.expireAttr(ch.Obj, w.After)
			c.ctr.wccOthers.Add(1)
			c.ctr.invalidated(CauseWcc)
			eff.drop(ch.Obj)
			break
		}
		ours := c.ApplyWcc(ch.Obj, w)
		switch {
		case ok && w.After.Set:
			eff.keep(&w)
		case !ours:
			eff.drop(ch.Obj)
		}

	case nfs3.ProcCommit:
		// A COMMIT changes no attribute of the version: its post-op
		// attributes are a revalidation (a change found drops the data's
		// claim through the version, as any PutAttr does).
		if ch.ObjWcc.Before.Set {
			c.ApplyWcc(ch.Obj, ch.ObjWcc)
		} else {
			c.PutPostOp(ch.Obj, ch.ObjWcc.After)
		}

	case nfs3.ProcCreate, nfs3.ProcMkdir, nfs3.ProcSymlink, nfs3.ProcMknod:
		c.ApplyWcc(ch.Dir, ch.DirWcc)
		if ok && ch.Obj != nil {
			if ch.ObjAttr.Set {
				c.PutAttr(ch.Obj, ch.ObjAttr.Attr)
			} else {
				// CREATE of an existing name (UNCHECKED) may have
				// truncated it; without attributes, forget the old ones.
				c.Invalidate(ch.Obj, CauseOwnOp)
			}
			c.PutName(ch.Dir, ch.Name, ch.Obj)
			break
		}
		c.ForgetName(ch.Dir, ch.Name)

	case nfs3.ProcRemove, nfs3.ProcRmdir:
		c.ApplyWcc(ch.Dir, ch.DirWcc)
		switch ch.Status {
		case nfs3.StatOK:
			c.ForgetName(ch.Dir, ch.Name)
			c.PutNegative(ch.Dir, ch.Name)
			c.gone(ch.Old, &eff)
		case nfs3.StatNoEnt:
			c.ForgetName(ch.Dir, ch.Name)
			c.PutNegative(ch.Dir, ch.Name)
		}

	case nfs3.ProcRename:
		c.ApplyWcc(ch.Dir, ch.DirWcc)
		if string(ch.ToDir) != string(ch.Dir) {
			// Within one directory both WCC records describe the same
			// change: applying it twice would look like someone else's.
			c.ApplyWcc(ch.ToDir, ch.ToDirWcc)
		}
		c.ForgetName(ch.Dir, ch.Name)
		c.ForgetName(ch.ToDir, ch.ToName)
		if !ok {
			break
		}
		// A rename onto itself, or between two names of one file, succeeds
		// and leaves both names in place (POSIX rename(2)): the old name is
		// known gone only when the target was absent or another object.
		sameFile := ch.Old != nil && (ch.Moved == nil || string(ch.Moved) == string(ch.Old))
		sameName := string(ch.Dir) == string(ch.ToDir) && ch.Name == ch.ToName
		if !sameFile && !sameName {
			c.PutNegative(ch.Dir, ch.Name)
		}
		if ch.Old != nil && !sameFile {
			c.gone(ch.Old, &eff)
		} else if ch.Old != nil {
			c.Invalidate(ch.Old, CauseOwnOp)
		}
		if ch.Moved != nil {
			c.Invalidate(ch.Moved, CauseOwnOp) // its ctime changed
		}

	case nfs3.ProcLink:
		c.ApplyWcc(ch.Dir, ch.DirWcc)
		c.PutPostOp(ch.Obj, ch.ObjAttr)
		if ok && !ch.ObjAttr.Set {
			// The link count changed and the reply did not say to what.
			c.Invalidate(ch.Obj, CauseOwnOp)
		}
		c.ForgetName(ch.Dir, ch.Name)
		if ok {
			c.PutName(ch.Dir, ch.Name, ch.Obj)
		}
	}
	return eff
}

// gone drops what is cached for an object that lost a name (REMOVE,
// RMDIR, RENAME over it): its attributes (link count, ctime), the names
// known to lead to it and its data.
func (c *Cache) gone(fh []byte, eff *Effect) {
	if fh == nil {
		return
	}
	c.Invalidate(fh, CauseOwnOp)
	eff.drop(fh)
}

// staleTarget returns the handle an NFS3ERR_STALE answer to ch is about:
// the object of SETATTR, WRITE and COMMIT, the directory of CREATE,
// MKDIR, SYMLINK, MKNOD, REMOVE and RMDIR; nil for another status, and
// for RENAME and LINK, whose two handles the status does not tell apart.
func staleTarget(ch *Change) []byte {
	if ch.Status != nfs3.StatStale {
		return nil
	}
	switch ch.Proc {
	case nfs3.ProcSetattr, nfs3.ProcWrite, nfs3.ProcCommit:
		return ch.Obj
	case nfs3.ProcCreate, nfs3.ProcMkdir, nfs3.ProcSymlink, nfs3.ProcMknod, nfs3.ProcRemove, nfs3.ProcRmdir:
		return ch.Dir
	}
	return nil
}

func (e *Effect) keep(w *nfs3.WccData) {
	e.KeepData, e.Pre, e.Post = true, w.Before.Attr, w.After.Attr
}

func (e *Effect) drop(fh []byte) { e.DropData = append(e.DropData, fh) }
