package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds the structures shared by many procedures: nfs_fh3,
// nfstime3, specdata3, fattr3, post_op_attr, wcc_attr, pre_op_attr,
// wcc_data, post_op_fh3, sattr3 and diropargs3.

// FH is nfs_fh3, an opaque file handle of at most FHSize bytes. A decoded
// FH aliases the Reader's buffer.
type FH []byte

// Encode writes fh as a variable-length opaque.
func (fh FH) Encode(w *xdr.Writer) { w.Opaque(fh) }

// Decode reads an nfs_fh3 of at most FHSize bytes. The result aliases the
// Reader's buffer.
func (fh *FH) Decode(r *xdr.Reader) error {
	*fh = FH(r.Opaque(FHSize))
	return r.Err()
}

// Time is nfstime3.
type Time struct {
	Sec, Nsec uint32
}

// Encode writes t.
func (t Time) Encode(w *xdr.Writer) {
	w.Uint32(t.Sec)
	w.Uint32(t.Nsec)
}

// Decode reads an nfstime3.
func (t *Time) Decode(r *xdr.Reader) error {
	t.Sec = r.Uint32()
	t.Nsec = r.Uint32()
	return r.Err()
}

// SpecData is specdata3, the device numbers of a block or character device.
type SpecData struct {
	Major, Minor uint32
}

// Encode writes s.
func (s SpecData) Encode(w *xdr.Writer) {
	w.Uint32(s.Major)
	w.Uint32(s.Minor)
}

// Decode reads a specdata3.
func (s *SpecData) Decode(r *xdr.Reader) error {
	s.Major = r.Uint32()
	s.Minor = r.Uint32()
	return r.Err()
}

// decodeFType reads an ftype3 and checks it is NF3REG..NF3FIFO.
func decodeFType(r *xdr.Reader) FType {
	t := FType(r.Uint32())
	if r.Err() == nil && (t < TypeReg || t > TypeFIFO) {
		r.SetErr(ErrBadFType)
		return 0
	}
	return t
}

// decodeVerf reads an 8-byte verifier (cookieverf3, createverf3, writeverf3).
func decodeVerf(r *xdr.Reader) (v [8]byte) {
	copy(v[:], r.Fixed(8))
	return v
}

// Fattr3 is fattr3, the attributes of a file.
type Fattr3 struct {
	Type                FType
	Mode, Nlink         uint32
	UID, GID            uint32
	Size, Used          uint64
	Rdev                SpecData
	FSID, FileID        uint64
	Atime, Mtime, Ctime Time
}

// Encode writes a.
func (a *Fattr3) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Type))
	w.Uint32(a.Mode)
	w.Uint32(a.Nlink)
	w.Uint32(a.UID)
	w.Uint32(a.GID)
	w.Uint64(a.Size)
	w.Uint64(a.Used)
	a.Rdev.Encode(w)
	w.Uint64(a.FSID)
	w.Uint64(a.FileID)
	a.Atime.Encode(w)
	a.Mtime.Encode(w)
	a.Ctime.Encode(w)
}

// Decode reads a fattr3. The type must be a valid ftype3.
func (a *Fattr3) Decode(r *xdr.Reader) error {
	a.Type = decodeFType(r)
	a.Mode = r.Uint32()
	a.Nlink = r.Uint32()
	a.UID = r.Uint32()
	a.GID = r.Uint32()
	a.Size = r.Uint64()
	a.Used = r.Uint64()
	a.Rdev.Decode(r)
	a.FSID = r.Uint64()
	a.FileID = r.Uint64()
	a.Atime.Decode(r)
	a.Mtime.Decode(r)
	a.Ctime.Decode(r)
	return r.Err()
}

// PostOpAttr is post_op_attr: attributes the server may or may not return.
// Attr is meaningful (and encoded) only when Set is true.
type PostOpAttr struct {
	Set  bool
	Attr Fattr3
}

// Encode writes a.
func (a *PostOpAttr) Encode(w *xdr.Writer) {
	w.Bool(a.Set)
	if a.Set {
		a.Attr.Encode(w)
	}
}

// Decode reads a post_op_attr.
func (a *PostOpAttr) Decode(r *xdr.Reader) error {
	*a = PostOpAttr{Set: r.Bool()}
	if a.Set {
		a.Attr.Decode(r)
	}
	return r.Err()
}

// WccAttr is wcc_attr, the subset of attributes used for weak cache
// consistency checks.
type WccAttr struct {
	Size         uint64
	Mtime, Ctime Time
}

// Encode writes a.
func (a *WccAttr) Encode(w *xdr.Writer) {
	w.Uint64(a.Size)
	a.Mtime.Encode(w)
	a.Ctime.Encode(w)
}

// Decode reads a wcc_attr.
func (a *WccAttr) Decode(r *xdr.Reader) error {
	a.Size = r.Uint64()
	a.Mtime.Decode(r)
	a.Ctime.Decode(r)
	return r.Err()
}

// PreOpAttr is pre_op_attr. Attr is meaningful (and encoded) only when Set
// is true.
type PreOpAttr struct {
	Set  bool
	Attr WccAttr
}

// Encode writes a.
func (a *PreOpAttr) Encode(w *xdr.Writer) {
	w.Bool(a.Set)
	if a.Set {
		a.Attr.Encode(w)
	}
}

// Decode reads a pre_op_attr.
func (a *PreOpAttr) Decode(r *xdr.Reader) error {
	*a = PreOpAttr{Set: r.Bool()}
	if a.Set {
		a.Attr.Decode(r)
	}
	return r.Err()
}

// WccData is wcc_data: the attributes before and after an operation.
type WccData struct {
	Before PreOpAttr
	After  PostOpAttr
}

// Encode writes d.
func (d *WccData) Encode(w *xdr.Writer) {
	d.Before.Encode(w)
	d.After.Encode(w)
}

// Decode reads a wcc_data.
func (d *WccData) Decode(r *xdr.Reader) error {
	d.Before.Decode(r)
	d.After.Decode(r)
	return r.Err()
}

// PostOpFH is post_op_fh3. FH is meaningful (and encoded) only when Set is
// true; a decoded FH aliases the Reader's buffer.
type PostOpFH struct {
	Set bool
	FH  FH
}

// Encode writes h.
func (h *PostOpFH) Encode(w *xdr.Writer) {
	w.Bool(h.Set)
	if h.Set {
		h.FH.Encode(w)
	}
}

// Decode reads a post_op_fh3.
func (h *PostOpFH) Decode(r *xdr.Reader) error {
	*h = PostOpFH{Set: r.Bool()}
	if h.Set {
		h.FH.Decode(r)
	}
	return r.Err()
}

// SetTime is set_atime or set_mtime. How is one of DontChange,
// SetToServerTime, SetToClientTime; Time is encoded only for
// SetToClientTime.
type SetTime struct {
	How  uint32
	Time Time
}

// Encode writes t.
func (t *SetTime) Encode(w *xdr.Writer) {
	w.Uint32(t.How)
	if t.How == SetToClientTime {
		t.Time.Encode(w)
	}
}

// Decode reads a set_atime/set_mtime; How must be a valid time_how.
func (t *SetTime) Decode(r *xdr.Reader) error {
	*t = SetTime{How: r.Enum(SetToClientTime)}
	if t.How == SetToClientTime {
		t.Time.Decode(r)
	}
	return r.Err()
}

// Sattr3 is sattr3, the attributes to set on SETATTR, CREATE, MKDIR,
// SYMLINK and MKNOD. Each value is encoded only when its Set flag is true.
type Sattr3 struct {
	SetMode      bool
	Mode         uint32
	SetUID       bool
	UID          uint32
	SetGID       bool
	GID          uint32
	SetSize      bool
	Size         uint64
	Atime, Mtime SetTime
}

// Encode writes s.
func (s *Sattr3) Encode(w *xdr.Writer) {
	w.Bool(s.SetMode)
	if s.SetMode {
		w.Uint32(s.Mode)
	}
	w.Bool(s.SetUID)
	if s.SetUID {
		w.Uint32(s.UID)
	}
	w.Bool(s.SetGID)
	if s.SetGID {
		w.Uint32(s.GID)
	}
	w.Bool(s.SetSize)
	if s.SetSize {
		w.Uint64(s.Size)
	}
	s.Atime.Encode(w)
	s.Mtime.Encode(w)
}

// Decode reads a sattr3.
func (s *Sattr3) Decode(r *xdr.Reader) error {
	*s = Sattr3{}
	if s.SetMode = r.Bool(); s.SetMode {
		s.Mode = r.Uint32()
	}
	if s.SetUID = r.Bool(); s.SetUID {
		s.UID = r.Uint32()
	}
	if s.SetGID = r.Bool(); s.SetGID {
		s.GID = r.Uint32()
	}
	if s.SetSize = r.Bool(); s.SetSize {
		s.Size = r.Uint64()
	}
	s.Atime.Decode(r)
	s.Mtime.Decode(r)
	return r.Err()
}

// DirOpArgs is diropargs3: a directory handle and a name in it. A decoded
// Dir aliases the Reader's buffer.
type DirOpArgs struct {
	Dir  FH
	Name string
}

// Encode writes d.
func (d *DirOpArgs) Encode(w *xdr.Writer) {
	d.Dir.Encode(w)
	w.String(d.Name)
}

// Decode reads a diropargs3; the name may be at most MaxNameDecode bytes
// (the server checks MaxName, so a longer name is NFS3ERR_NAMETOOLONG).
func (d *DirOpArgs) Decode(r *xdr.Reader) error {
	d.Dir.Decode(r)
	d.Name = r.String(MaxNameDecode)
	return r.Err()
}
