package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds READLINK, READ, WRITE and COMMIT.

// ReadlinkArgs is READLINK3args. A decoded Object aliases the Reader's
// buffer.
type ReadlinkArgs struct {
	Object FH
}

// Encode writes a.
func (a *ReadlinkArgs) Encode(w *xdr.Writer) { a.Object.Encode(w) }

// Decode reads a READLINK3args.
func (a *ReadlinkArgs) Decode(r *xdr.Reader) error {
	*a = ReadlinkArgs{}
	return a.Object.Decode(r)
}

// ReadlinkRes is READLINK3res. Both arms carry Attr (symlink_attributes);
// Path is present only when Status is StatOK.
type ReadlinkRes struct {
	Status Stat
	Attr   PostOpAttr
	Path   string
}

// Encode writes a.
func (a *ReadlinkRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Attr.Encode(w)
	if a.Status == StatOK {
		w.String(a.Path)
	}
}

// Decode reads a READLINK3res; the path may be at most MaxSymlinkPath bytes.
func (a *ReadlinkRes) Decode(r *xdr.Reader) error {
	*a = ReadlinkRes{Status: Stat(r.Uint32())}
	a.Attr.Decode(r)
	if a.Status == StatOK {
		a.Path = r.String(MaxSymlinkPath)
	}
	return r.Err()
}

// ReadArgs is READ3args. A decoded File aliases the Reader's buffer.
type ReadArgs struct {
	File   FH
	Offset uint64
	Count  uint32
}

// Encode writes a.
func (a *ReadArgs) Encode(w *xdr.Writer) {
	a.File.Encode(w)
	w.Uint64(a.Offset)
	w.Uint32(a.Count)
}

// Decode reads a READ3args.
func (a *ReadArgs) Decode(r *xdr.Reader) error {
	*a = ReadArgs{}
	a.File.Decode(r)
	a.Offset = r.Uint64()
	a.Count = r.Uint32()
	return r.Err()
}

// ReadRes is READ3res. Both arms carry Attr (file_attributes); Count, EOF
// and Data are present only when Status is StatOK. Count is written as
// given, not derived from len(Data), and is not checked against it on
// decode. A decoded Data (at most MaxData bytes) aliases the Reader's
// buffer.
type ReadRes struct {
	Status Stat
	Attr   PostOpAttr
	Count  uint32
	EOF    bool
	Data   []byte
}

// Encode writes a.
func (a *ReadRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Attr.Encode(w)
	if a.Status == StatOK {
		w.Uint32(a.Count)
		w.Bool(a.EOF)
		w.Opaque(a.Data)
	}
}

// Decode reads a READ3res.
func (a *ReadRes) Decode(r *xdr.Reader) error {
	*a = ReadRes{Status: Stat(r.Uint32())}
	a.Attr.Decode(r)
	if a.Status == StatOK {
		a.Count = r.Uint32()
		a.EOF = r.Bool()
		a.Data = r.Opaque(MaxData)
	}
	return r.Err()
}

// WriteArgs is WRITE3args. Count is written as given and not checked
// against len(Data) on decode. A decoded File and Data (at most MaxData
// bytes) alias the Reader's buffer.
type WriteArgs struct {
	File   FH
	Offset uint64
	Count  uint32
	Stable StableHow
	Data   []byte
}

// Encode writes a.
func (a *WriteArgs) Encode(w *xdr.Writer) {
	a.File.Encode(w)
	w.Uint64(a.Offset)
	w.Uint32(a.Count)
	w.Uint32(uint32(a.Stable))
	w.Opaque(a.Data)
}

// Decode reads a WRITE3args; Stable must be a valid stable_how.
func (a *WriteArgs) Decode(r *xdr.Reader) error {
	*a = WriteArgs{}
	a.File.Decode(r)
	a.Offset = r.Uint64()
	a.Count = r.Uint32()
	a.Stable = StableHow(r.Enum(uint32(FileSync)))
	a.Data = r.Opaque(MaxData)
	return r.Err()
}

// WriteRes is WRITE3res. Both arms carry Wcc (file_wcc); Count, Committed
// and Verf are present only when Status is StatOK.
type WriteRes struct {
	Status    Stat
	Wcc       WccData
	Count     uint32
	Committed StableHow
	Verf      [WriteVerfSize]byte
}

// Encode writes a.
func (a *WriteRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Wcc.Encode(w)
	if a.Status == StatOK {
		w.Uint32(a.Count)
		w.Uint32(uint32(a.Committed))
		w.Fixed(a.Verf[:])
	}
}

// Decode reads a WRITE3res; Committed must be a valid stable_how.
func (a *WriteRes) Decode(r *xdr.Reader) error {
	*a = WriteRes{Status: Stat(r.Uint32())}
	a.Wcc.Decode(r)
	if a.Status == StatOK {
		a.Count = r.Uint32()
		a.Committed = StableHow(r.Enum(uint32(FileSync)))
		a.Verf = decodeVerf(r)
	}
	return r.Err()
}

// CommitArgs is COMMIT3args. A decoded File aliases the Reader's buffer.
type CommitArgs struct {
	File   FH
	Offset uint64
	Count  uint32
}

// Encode writes a.
func (a *CommitArgs) Encode(w *xdr.Writer) {
	a.File.Encode(w)
	w.Uint64(a.Offset)
	w.Uint32(a.Count)
}

// Decode reads a COMMIT3args.
func (a *CommitArgs) Decode(r *xdr.Reader) error {
	*a = CommitArgs{}
	a.File.Decode(r)
	a.Offset = r.Uint64()
	a.Count = r.Uint32()
	return r.Err()
}

// CommitRes is COMMIT3res. Both arms carry Wcc (file_wcc); Verf is present
// only when Status is StatOK.
type CommitRes struct {
	Status Stat
	Wcc    WccData
	Verf   [WriteVerfSize]byte
}

// Encode writes a.
func (a *CommitRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.Wcc.Encode(w)
	if a.Status == StatOK {
		w.Fixed(a.Verf[:])
	}
}

// Decode reads a COMMIT3res.
func (a *CommitRes) Decode(r *xdr.Reader) error {
	*a = CommitRes{Status: Stat(r.Uint32())}
	a.Wcc.Decode(r)
	if a.Status == StatOK {
		a.Verf = decodeVerf(r)
	}
	return r.Err()
}
