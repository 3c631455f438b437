package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds the namespace procedures: LOOKUP, CREATE, MKDIR,
// SYMLINK, MKNOD, REMOVE, RMDIR, RENAME and LINK. In all of them a decoded
// FH aliases the Reader's buffer.

// LookupArgs is LOOKUP3args.
type LookupArgs struct {
	What DirOpArgs
}

// Encode writes a.
func (a *LookupArgs) Encode(w *xdr.Writer) { a.What.Encode(w) }

// Decode reads a LOOKUP3args.
func (a *LookupArgs) Decode(r *xdr.Reader) error {
	*a = LookupArgs{}
	return a.What.Decode(r)
}

// LookupRes is LOOKUP3res. Both arms carry DirAttr (dir_attributes);
// Object and ObjAttr are present only when Status is StatOK.
type LookupRes struct {
	Status  Stat
	Object  FH
	ObjAttr PostOpAttr
	DirAttr PostOpAttr
}

// Encode writes a.
func (a *LookupRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	if a.Status == StatOK {
		a.Object.Encode(w)
		a.ObjAttr.Encode(w)
	}
	a.DirAttr.Encode(w)
}

// Decode reads a LOOKUP3res.
func (a *LookupRes) Decode(r *xdr.Reader) error {
	*a = LookupRes{Status: Stat(r.Uint32())}
	if a.Status == StatOK {
		a.Object.Decode(r)
		a.ObjAttr.Decode(r)
	}
	a.DirAttr.Decode(r)
	return r.Err()
}

// CreateArgs is CREATE3args. Mode is a createmode3 (CreateUnchecked,
// CreateGuarded, CreateExclusive); Attr is encoded for the first two, Verf
// for CreateExclusive.
type CreateArgs struct {
	Where DirOpArgs
	Mode  uint32
	Attr  Sattr3
	Verf  [CreateVerfSize]byte
}

// Encode writes a.
func (a *CreateArgs) Encode(w *xdr.Writer) {
	a.Where.Encode(w)
	w.Uint32(a.Mode)
	if a.Mode == CreateExclusive {
		w.Fixed(a.Verf[:])
	} else {
		a.Attr.Encode(w)
	}
}

// Decode reads a CREATE3args; Mode must be a valid createmode3.
func (a *CreateArgs) Decode(r *xdr.Reader) error {
	*a = CreateArgs{}
	a.Where.Decode(r)
	a.Mode = r.Enum(CreateExclusive)
	if a.Mode == CreateExclusive {
		a.Verf = decodeVerf(r)
	} else {
		a.Attr.Decode(r)
	}
	return r.Err()
}

// CreateRes is CREATE3res, and the shape of the MKDIR, SYMLINK and MKNOD
// results. Both arms carry DirWcc (dir_wcc); Obj and ObjAttr are present
// only when Status is StatOK.
type CreateRes struct {
	Status  Stat
	Obj     PostOpFH
	ObjAttr PostOpAttr
	DirWcc  WccData
}

// Encode writes a.
func (a *CreateRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	if a.Status == StatOK {
		a.Obj.Encode(w)
		a.ObjAttr.Encode(w)
	}
	a.DirWcc.Encode(w)
}

// Decode reads a CREATE3res.
func (a *CreateRes) Decode(r *xdr.Reader) error {
	*a = CreateRes{Status: Stat(r.Uint32())}
	if a.Status == StatOK {
		a.Obj.Decode(r)
		a.ObjAttr.Decode(r)
	}
	a.DirWcc.Decode(r)
	return r.Err()
}

// MkdirArgs is MKDIR3args.
type MkdirArgs struct {
	Where DirOpArgs
	Attr  Sattr3
}

// Encode writes a.
func (a *MkdirArgs) Encode(w *xdr.Writer) {
	a.Where.Encode(w)
	a.Attr.Encode(w)
}

// Decode reads a MKDIR3args.
func (a *MkdirArgs) Decode(r *xdr.Reader) error {
	*a = MkdirArgs{}
	a.Where.Decode(r)
	a.Attr.Decode(r)
	return r.Err()
}

// MkdirRes is MKDIR3res, laid out as CreateRes.
type MkdirRes CreateRes

// Encode writes a.
func (a *MkdirRes) Encode(w *xdr.Writer) { (*CreateRes)(a).Encode(w) }

// Decode reads a MKDIR3res.
func (a *MkdirRes) Decode(r *xdr.Reader) error { return (*CreateRes)(a).Decode(r) }

// SymlinkArgs is SYMLINK3args: Attr and Path form symlinkdata3.
type SymlinkArgs struct {
	Where DirOpArgs
	Attr  Sattr3
	Path  string
}

// Encode writes a.
func (a *SymlinkArgs) Encode(w *xdr.Writer) {
	a.Where.Encode(w)
	a.Attr.Encode(w)
	w.String(a.Path)
}

// Decode reads a SYMLINK3args; the name may be at most MaxNameDecode bytes
// and the path at most MaxPathDecode (the server checks MaxName and
// MaxSymlinkPath).
func (a *SymlinkArgs) Decode(r *xdr.Reader) error {
	*a = SymlinkArgs{}
	a.Where.Decode(r)
	a.Attr.Decode(r)
	a.Path = r.String(MaxPathDecode)
	return r.Err()
}

// SymlinkRes is SYMLINK3res, laid out as CreateRes.
type SymlinkRes CreateRes

// Encode writes a.
func (a *SymlinkRes) Encode(w *xdr.Writer) { (*CreateRes)(a).Encode(w) }

// Decode reads a SYMLINK3res.
func (a *SymlinkRes) Decode(r *xdr.Reader) error { return (*CreateRes)(a).Decode(r) }

// MknodArgs is MKNOD3args. The mknoddata3 union is chosen by Type: Attr
// and Spec for TypeChr and TypeBlk, Attr only for TypeSock and TypeFIFO,
// nothing more for the other types.
type MknodArgs struct {
	Where DirOpArgs
	Type  FType
	Attr  Sattr3
	Spec  SpecData
}

// Encode writes a.
func (a *MknodArgs) Encode(w *xdr.Writer) {
	a.Where.Encode(w)
	w.Uint32(uint32(a.Type))
	switch a.Type {
	case TypeChr, TypeBlk:
		a.Attr.Encode(w)
		a.Spec.Encode(w)
	case TypeSock, TypeFIFO:
		a.Attr.Encode(w)
	}
}

// Decode reads a MKNOD3args; Type must be a valid ftype3.
func (a *MknodArgs) Decode(r *xdr.Reader) error {
	*a = MknodArgs{}
	a.Where.Decode(r)
	a.Type = decodeFType(r)
	switch a.Type {
	case TypeChr, TypeBlk:
		a.Attr.Decode(r)
		a.Spec.Decode(r)
	case TypeSock, TypeFIFO:
		a.Attr.Decode(r)
	}
	return r.Err()
}

// MknodRes is MKNOD3res, laid out as CreateRes.
type MknodRes CreateRes

// Encode writes a.
func (a *MknodRes) Encode(w *xdr.Writer) { (*CreateRes)(a).Encode(w) }

// Decode reads a MKNOD3res.
func (a *MknodRes) Decode(r *xdr.Reader) error { return (*CreateRes)(a).Decode(r) }

// RemoveArgs is REMOVE3args.
type RemoveArgs struct {
	Object DirOpArgs
}

// Encode writes a.
func (a *RemoveArgs) Encode(w *xdr.Writer) { a.Object.Encode(w) }

// Decode reads a REMOVE3args.
func (a *RemoveArgs) Decode(r *xdr.Reader) error {
	*a = RemoveArgs{}
	return a.Object.Decode(r)
}

// RemoveRes is REMOVE3res; both arms carry DirWcc (dir_wcc).
type RemoveRes struct {
	Status Stat
	DirWcc WccData
}

// Encode writes a.
func (a *RemoveRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.DirWcc.Encode(w)
}

// Decode reads a REMOVE3res.
func (a *RemoveRes) Decode(r *xdr.Reader) error {
	*a = RemoveRes{Status: Stat(r.Uint32())}
	a.DirWcc.Decode(r)
	return r.Err()
}

// RmdirArgs is RMDIR3args, laid out as RemoveArgs.
type RmdirArgs RemoveArgs

// Encode writes a.
func (a *RmdirArgs) Encode(w *xdr.Writer) { (*RemoveArgs)(a).Encode(w) }

// Decode reads a RMDIR3args.
func (a *RmdirArgs) Decode(r *xdr.Reader) error { return (*RemoveArgs)(a).Decode(r) }

// RmdirRes is RMDIR3res, laid out as RemoveRes.
type RmdirRes RemoveRes

// Encode writes a.
func (a *RmdirRes) Encode(w *xdr.Writer) { (*RemoveRes)(a).Encode(w) }

// Decode reads a RMDIR3res.
func (a *RmdirRes) Decode(r *xdr.Reader) error { return (*RemoveRes)(a).Decode(r) }

// RenameArgs is RENAME3args.
type RenameArgs struct {
	From, To DirOpArgs
}

// Encode writes a.
func (a *RenameArgs) Encode(w *xdr.Writer) {
	a.From.Encode(w)
	a.To.Encode(w)
}

// Decode reads a RENAME3args.
func (a *RenameArgs) Decode(r *xdr.Reader) error {
	*a = RenameArgs{}
	a.From.Decode(r)
	a.To.Decode(r)
	return r.Err()
}

// RenameRes is RENAME3res; both arms carry both WCC bodies.
type RenameRes struct {
	Status               Stat
	FromDirWcc, ToDirWcc WccData
}

// Encode writes a.
func (a *RenameRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.FromDirWcc.Encode(w)
	a.ToDirWcc.Encode(w)
}

// Decode reads a RENAME3res.
func (a *RenameRes) Decode(r *xdr.Reader) error {
	*a = RenameRes{Status: Stat(r.Uint32())}
	a.FromDirWcc.Decode(r)
	a.ToDirWcc.Decode(r)
	return r.Err()
}

// LinkArgs is LINK3args: make Link a new name for File.
type LinkArgs struct {
	File FH
	Link DirOpArgs
}

// Encode writes a.
func (a *LinkArgs) Encode(w *xdr.Writer) {
	a.File.Encode(w)
	a.Link.Encode(w)
}

// Decode reads a LINK3args.
func (a *LinkArgs) Decode(r *xdr.Reader) error {
	*a = LinkArgs{}
	a.File.Decode(r)
	a.Link.Decode(r)
	return r.Err()
}

// LinkRes is LINK3res; both arms carry FileAttr (file_attributes) and
// LinkDirWcc (linkdir_wcc).
type LinkRes struct {
	Status     Stat
	FileAttr   PostOpAttr
	LinkDirWcc WccData
}

// Encode writes a.
func (a *LinkRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.FileAttr.Encode(w)
	a.LinkDirWcc.Encode(w)
}

// Decode reads a LINK3res.
func (a *LinkRes) Decode(r *xdr.Reader) error {
	*a = LinkRes{Status: Stat(r.Uint32())}
	a.FileAttr.Decode(r)
	a.LinkDirWcc.Decode(r)
	return r.Err()
}
