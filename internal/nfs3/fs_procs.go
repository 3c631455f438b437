package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds the file system procedures FSSTAT, FSINFO and PATHCONF.
// In all of them a decoded Object aliases the Reader's buffer, and both
// result arms carry Attr (obj_attributes).

// FsstatArgs is FSSTAT3args.
type FsstatArgs struct {
	Object FH
}

// Encode writes a.
func (a *FsstatArgs) Encode(w *xdr.Writer) { a.Object.Encode(w) }

// Decode reads an FSSTAT3args.
func (a *FsstatArgs) Decode(r *xdr.Reader) error {
	*a = FsstatArgs{}
	return a.Object.Decode(r)
}

// FsstatRes is FSSTAT3res; all fields after Attr are present only when
// Status is StatOK.
type FsstatRes struct {
	Status                 Stat
	Attr                   PostOpAttr
	Tbytes, Fbytes, Abytes uint64
	Tfiles, Ffiles, Afiles uint64
	Invarsec               uint32
}

// Encode writes a.
func (a *FsstatRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Attr.Encode(w)
	if a.Status != StatOK {
		return
	}
	w.Uint64(a.Tbytes)
	w.Uint64(a.Fbytes)
	w.Uint64(a.Abytes)
	w.Uint64(a.Tfiles)
	w.Uint64(a.Ffiles)
	w.Uint64(a.Afiles)
	w.Uint32(a.Invarsec)
}

// Decode reads an FSSTAT3res.
func (a *FsstatRes) Decode(r *xdr.Reader) error {
	*a = FsstatRes{Status: Stat(r.Uint32())}
	a.Attr.Decode(r)
	if a.Status != StatOK {
		return r.Err()
	}
	a.Tbytes = r.Uint64()
	a.Fbytes = r.Uint64()
	a.Abytes = r.Uint64()
	a.Tfiles = r.Uint64()
	a.Ffiles = r.Uint64()
	a.Afiles = r.Uint64()
	a.Invarsec = r.Uint32()
	return r.Err()
}

// FsinfoArgs is FSINFO3args.
type FsinfoArgs struct {
	Object FH
}

// Encode writes a.
func (a *FsinfoArgs) Encode(w *xdr.Writer) { a.Object.Encode(w) }

// Decode reads an FSINFO3args.
func (a *FsinfoArgs) Decode(r *xdr.Reader) error {
	*a = FsinfoArgs{}
	return a.Object.Decode(r)
}

// FsinfoRes is FSINFO3res; all fields after Attr are present only when
// Status is StatOK. Properties is a mask of FSF* bits.
type FsinfoRes struct {
	Status                Stat
	Attr                  PostOpAttr
	RtMax, RtPref, RtMult uint32
	WtMax, WtPref, WtMult uint32
	DtPref                uint32
	MaxFileSize           uint64
	TimeDelta             Time
	Properties            uint32
}

// Encode writes a.
func (a *FsinfoRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Attr.Encode(w)
	if a.Status != StatOK {
		return
	}
	w.Uint32(a.RtMax)
	w.Uint32(a.RtPref)
	w.Uint32(a.RtMult)
	w.Uint32(a.WtMax)
	w.Uint32(a.WtPref)
	w.Uint32(a.WtMult)
	w.Uint32(a.DtPref)
	w.Uint64(a.MaxFileSize)
	a.TimeDelta.Encode(w)
	w.Uint32(a.Properties)
}

// Decode reads an FSINFO3res.
func (a *FsinfoRes) Decode(r *xdr.Reader) error {
	*a = FsinfoRes{Status: Stat(r.Uint32())}
	a.Attr.Decode(r)
	if a.Status != StatOK {
		return r.Err()
	}
	a.RtMax = r.Uint32()
	a.RtPref = r.Uint32()
	a.RtMult = r.Uint32()
	a.WtMax = r.Uint32()
	a.WtPref = r.Uint32()
	a.WtMult = r.Uint32()
	a.DtPref = r.Uint32()
	a.MaxFileSize = r.Uint64()
	a.TimeDelta.Decode(r)
	a.Properties = r.Uint32()
	return r.Err()
}

// PathconfArgs is PATHCONF3args.
type PathconfArgs struct {
	Object FH
}

// Encode writes a.
func (a *PathconfArgs) Encode(w *xdr.Writer) { a.Object.Encode(w) }

// Decode reads a PATHCONF3args.
func (a *PathconfArgs) Decode(r *xdr.Reader) error {
	*a = PathconfArgs{}
	return a.Object.Decode(r)
}

// PathconfRes is PATHCONF3res; all fields after Attr are present only when
// Status is StatOK.
type PathconfRes struct {
	Status                          Stat
	Attr                            PostOpAttr
	LinkMax, NameMax                uint32
	NoTrunc, ChownRestricted        bool
	CaseInsensitive, CasePreserving bool
}

// Encode writes a.
func (a *PathconfRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Attr.Encode(w)
	if a.Status != StatOK {
		return
	}
	w.Uint32(a.LinkMax)
	w.Uint32(a.NameMax)
	w.Bool(a.NoTrunc)
	w.Bool(a.ChownRestricted)
	w.Bool(a.CaseInsensitive)
	w.Bool(a.CasePreserving)
}

// Decode reads a PATHCONF3res.
func (a *PathconfRes) Decode(r *xdr.Reader) error {
	*a = PathconfRes{Status: Stat(r.Uint32())}
	a.Attr.Decode(r)
	if a.Status != StatOK {
		return r.Err()
	}
	a.LinkMax = r.Uint32()
	a.NameMax = r.Uint32()
	a.NoTrunc = r.Bool()
	a.ChownRestricted = r.Bool()
	a.CaseInsensitive = r.Bool()
	a.CasePreserving = r.Bool()
	return r.Err()
}
