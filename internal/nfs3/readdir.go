package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds READDIR and READDIRPLUS, whose replies carry XDR
// optional-data linked lists: each element is preceded by a TRUE "value
// follows" flag and the list ends with FALSE.

// more reads the flag in front of a list element and reports whether an
// element follows. n is the number of elements read so far; once it reaches
// MaxListLen a following element is an ErrListTooLong error.
func more(r *xdr.Reader, n int) bool {
	if !r.Bool() {
		return false
	}
	if n >= MaxListLen {
		r.SetErr(ErrListTooLong)
		return false
	}
	return true
}

// ReaddirArgs is READDIR3args. A decoded Dir aliases the Reader's buffer.
type ReaddirArgs struct {
	Dir        FH
	Cookie     uint64
	CookieVerf [CookieVerfSize]byte
	Count      uint32
}

// Encode writes a.
func (a *ReaddirArgs) Encode(w *xdr.Writer) {
	a.Dir.Encode(w)
	w.Uint64(a.Cookie)
	w.Fixed(a.CookieVerf[:])
	w.Uint32(a.Count)
}

// Decode reads a READDIR3args.
func (a *ReaddirArgs) Decode(r *xdr.Reader) error {
	*a = ReaddirArgs{}
	a.Dir.Decode(r)
	a.Cookie = r.Uint64()
	a.CookieVerf = decodeVerf(r)
	a.Count = r.Uint32()
	return r.Err()
}

// DirEntry is entry3, one READDIR entry.
type DirEntry struct {
	FileID uint64
	Name   string
	Cookie uint64
}

// Encode writes e (without the list's "value follows" flag).
func (e *DirEntry) Encode(w *xdr.Writer) {
	w.Uint64(e.FileID)
	w.String(e.Name)
	w.Uint64(e.Cookie)
}

// Decode reads an entry3 (without the list's "value follows" flag); the
// name may be at most MaxName bytes.
func (e *DirEntry) Decode(r *xdr.Reader) error {
	e.FileID = r.Uint64()
	e.Name = r.String(MaxName)
	e.Cookie = r.Uint64()
	return r.Err()
}

// ReaddirRes is READDIR3res. Both arms carry DirAttr (dir_attributes);
// CookieVerf, Entries and EOF are present only when Status is StatOK. A
// decoded empty list is a nil Entries.
type ReaddirRes struct {
	Status     Stat
	DirAttr    PostOpAttr
	CookieVerf [CookieVerfSize]byte
	Entries    []DirEntry
	EOF        bool
}

// Encode writes a.
func (a *ReaddirRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.DirAttr.Encode(w)
	if a.Status != StatOK {
		return
	}
	w.Fixed(a.CookieVerf[:])
	for i := range a.Entries {
		w.Bool(true)
		a.Entries[i].Encode(w)
	}
	w.Bool(false)
	w.Bool(a.EOF)
}

// Decode reads a READDIR3res; at most MaxListLen entries are accepted.
func (a *ReaddirRes) Decode(r *xdr.Reader) error {
	*a = ReaddirRes{Status: Stat(r.Uint32())}
	a.DirAttr.Decode(r)
	if a.Status != StatOK {
		return r.Err()
	}
	a.CookieVerf = decodeVerf(r)
	for more(r, len(a.Entries)) {
		var e DirEntry
		if e.Decode(r) != nil {
			break
		}
		a.Entries = append(a.Entries, e)
	}
	a.EOF = r.Bool()
	return r.Err()
}

// ReaddirplusArgs is READDIRPLUS3args. A decoded Dir aliases the Reader's
// buffer.
type ReaddirplusArgs struct {
	Dir                FH
	Cookie             uint64
	CookieVerf         [CookieVerfSize]byte
	DirCount, MaxCount uint32
}

// Encode writes a.
func (a *ReaddirplusArgs) Encode(w *xdr.Writer) {
	a.Dir.Encode(w)
	w.Uint64(a.Cookie)
	w.Fixed(a.CookieVerf[:])
	w.Uint32(a.DirCount)
	w.Uint32(a.MaxCount)
}

// Decode reads a READDIRPLUS3args.
func (a *ReaddirplusArgs) Decode(r *xdr.Reader) error {
	*a = ReaddirplusArgs{}
	a.Dir.Decode(r)
	a.Cookie = r.Uint64()
	a.CookieVerf = decodeVerf(r)
	a.DirCount = r.Uint32()
	a.MaxCount = r.Uint32()
	return r.Err()
}

// DirEntryPlus is entryplus3, one READDIRPLUS entry. A decoded FH.FH
// aliases the Reader's buffer.
type DirEntryPlus struct {
	FileID uint64
	Name   string
	Cookie uint64
	Attr   PostOpAttr
	FH     PostOpFH
}

// Encode writes e (without the list's "value follows" flag).
func (e *DirEntryPlus) Encode(w *xdr.Writer) {
	w.Uint64(e.FileID)
	w.String(e.Name)
	w.Uint64(e.Cookie)
	e.Attr.Encode(w)
	e.FH.Encode(w)
}

// Decode reads an entryplus3 (without the list's "value follows" flag);
// the name may be at most MaxName bytes.
func (e *DirEntryPlus) Decode(r *xdr.Reader) error {
	e.FileID = r.Uint64()
	e.Name = r.String(MaxName)
	e.Cookie = r.Uint64()
	e.Attr.Decode(r)
	e.FH.Decode(r)
	return r.Err()
}

// ReaddirplusRes is READDIRPLUS3res. Both arms carry DirAttr
// (dir_attributes); CookieVerf, Entries and EOF are present only when
// Status is StatOK. A decoded empty list is a nil Entries.
type ReaddirplusRes struct {
	Status     Stat
	DirAttr    PostOpAttr
	CookieVerf [CookieVerfSize]byte
	Entries    []DirEntryPlus
	EOF        bool
}

// Encode writes a.
func (a *ReaddirplusRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	a.DirAttr.Encode(w)
	if a.Status != StatOK {
		return
	}
	w.Fixed(a.CookieVerf[:])
	for i := range a.Entries {
		w.Bool(true)
		a.Entries[i].Encode(w)
	}
	w.Bool(false)
	w.Bool(a.EOF)
}

// Decode reads a READDIRPLUS3res; at most MaxListLen entries are accepted.
func (a *ReaddirplusRes) Decode(r *xdr.Reader) error {
	*a = ReaddirplusRes{Status: Stat(r.Uint32())}
	a.DirAttr.Decode(r)
	if a.Status != StatOK {
		return r.Err()
	}
	a.CookieVerf = decodeVerf(r)
	for more(r, len(a.Entries)) {
		var e DirEntryPlus
		if e.Decode(r) != nil {
			break
		}
		a.Entries = append(a.Entries, e)
	}
	a.EOF = r.Bool()
	return r.Err()
}
