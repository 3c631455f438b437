package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds GETATTR, SETATTR and ACCESS.

// GetattrArgs is GETATTR3args. A decoded Object aliases the Reader's buffer.
type GetattrArgs struct {
	Object FH
}

// Encode writes a.
func (a *GetattrArgs) Encode(w *xdr.Writer) { a.Object.Encode(w) }

// Decode reads a GETATTR3args.
func (a *GetattrArgs) Decode(r *xdr.Reader) error {
	*a = GetattrArgs{}
	return a.Object.Decode(r)
}

// GetattrRes is GETATTR3res. Attr is present only when Status is StatOK;
// the failure arm is empty.
type GetattrRes struct {
	Status Stat
	Attr   Fattr3
}

// Encode writes a.
func (a *GetattrRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	if a.Status == StatOK {
		a.Attr.Encode(w)
	}
}

// Decode reads a GETATTR3res.
func (a *GetattrRes) Decode(r *xdr.Reader) error {
	*a = GetattrRes{Status: Stat(r.Uint32())}
	if a.Status == StatOK {
		a.Attr.Decode(r)
	}
	return r.Err()
}

// SetattrArgs is SETATTR3args. GuardCtime is encoded only when Guard is
// true. A decoded Object aliases the Reader's buffer.
type SetattrArgs struct {
	Object     FH
	New        Sattr3
	Guard      bool
	GuardCtime Time
}

// Encode writes a.
func (a *SetattrArgs) Encode(w *xdr.Writer) {
	a.Object.Encode(w)
	a.New.Encode(w)
	w.Bool(a.Guard)
	if a.Guard {
		a.GuardCtime.Encode(w)
	}
}

// Decode reads a SETATTR3args.
func (a *SetattrArgs) Decode(r *xdr.Reader) error {
	*a = SetattrArgs{}
	a.Object.Decode(r)
	a.New.Decode(r)
	if a.Guard = r.Bool(); a.Guard {
		a.GuardCtime.Decode(r)
	}
	return r.Err()
}

// SetattrRes is SETATTR3res; both arms carry Wcc (obj_wcc).
type SetattrRes struct {
	Status Stat
	Wcc    WccData
}

// Encode writes a.
func (a *SetattrRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Wcc.Encode(w)
}

// Decode reads a SETATTR3res.
func (a *SetattrRes) Decode(r *xdr.Reader) error {
	*a = SetattrRes{Status: Stat(r.Uint32())}
	a.Wcc.Decode(r)
	return r.Err()
}

// AccessArgs is ACCESS3args: Access is a mask of Access* bits. A decoded
// Object aliases the Reader's buffer.
type AccessArgs struct {
	Object FH
	Access uint32
}

// Encode writes a.
func (a *AccessArgs) Encode(w *xdr.Writer) {
	a.Object.Encode(w)
	w.Uint32(a.Access)
}

// Decode reads an ACCESS3args.
func (a *AccessArgs) Decode(r *xdr.Reader) error {
	*a = AccessArgs{}
	a.Object.Decode(r)
	a.Access = r.Uint32()
	return r.Err()
}

// AccessRes is ACCESS3res. Both arms carry Attr (obj_attributes); Access
// is present only when Status is StatOK.
type AccessRes struct {
	Status Stat
	Attr   PostOpAttr
	Access uint32
}

// Encode writes a.
func (a *AccessRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Attr.Encode(w)
	if a.Status == StatOK {
		w.Uint32(a.Access)
	}
}

// Decode reads an ACCESS3res.
func (a *AccessRes) Decode(r *xdr.Reader) error {
	*a = AccessRes{Status: Stat(r.Uint32())}
	a.Attr.Decode(r)
	if a.Status == StatOK {
		a.Access = r.Uint32()
	}
	return r.Err()
}
