package nfs3

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// This file holds the MOUNT v3 protocol (RFC 1813 appendix I). NULL,
// UMNTALL, DUMP and EXPORT take no arguments; UMNT and UMNTALL return
// nothing, so they have no types here.

// MntArgs is the argument of MOUNTPROC3_MNT: the dirpath to mount.
type MntArgs struct {
	Path string
}

// Encode writes a.
func (a *MntArgs) Encode(w *xdr.Writer) { w.String(a.Path) }

// Decode reads a dirpath of at most MaxPathDecode bytes; the server checks
// MountPathLen.
func (a *MntArgs) Decode(r *xdr.Reader) error {
	a.Path = r.String(MaxPathDecode)
	return r.Err()
}

// MntRes is mountres3. FH and AuthFlavors are present only when Status is
// MountOK; the failure arm is empty. A decoded FH aliases the Reader's
// buffer; a decoded empty flavor list is nil.
type MntRes struct {
	Status      MountStat
	FH          FH
	AuthFlavors []uint32
}

// Encode writes a.
func (a *MntRes) Encode(w *xdr.Writer) {
	w.Uint32(uint32(a.Status))
	if a.Status != MountOK {
		return
	}
	a.FH.Encode(w)
	w.Uint32(uint32(len(a.AuthFlavors)))
	for _, f := range a.AuthFlavors {
		w.Uint32(f)
	}
}

// Decode reads a mountres3; at most MaxAuthFlavors flavors are accepted.
func (a *MntRes) Decode(r *xdr.Reader) error {
	*a = MntRes{Status: MountStat(r.Uint32())}
	if a.Status != MountOK {
		return r.Err()
	}
	a.FH.Decode(r)
	n := r.Uint32()
	if r.Err() != nil {
		return r.Err()
	}
	if n > MaxAuthFlavors {
		r.SetErr(ErrListTooLong)
		return r.Err()
	}
	if n > 0 {
		a.AuthFlavors = make([]uint32, n)
		for i := range a.AuthFlavors {
			a.AuthFlavors[i] = r.Uint32()
		}
	}
	return r.Err()
}

// UmntArgs is the argument of MOUNTPROC3_UMNT: the dirpath to unmount.
type UmntArgs struct {
	Path string
}

// Encode writes a.
func (a *UmntArgs) Encode(w *xdr.Writer) { w.String(a.Path) }

// Decode reads a dirpath of at most MaxPathDecode bytes; the server checks
// MountPathLen.
func (a *UmntArgs) Decode(r *xdr.Reader) error {
	a.Path = r.String(MaxPathDecode)
	return r.Err()
}

// MountEntry is mountbody without its link: a client host and the
// directory it mounted.
type MountEntry struct {
	Hostname, Dir string
}

// DumpRes is the result of MOUNTPROC3_DUMP, the mountlist. A decoded empty
// list is a nil Mounts.
type DumpRes struct {
	Mounts []MountEntry
}

// Encode writes a.
func (a *DumpRes) Encode(w *xdr.Writer) {
	for i := range a.Mounts {
		w.Bool(true)
		w.String(a.Mounts[i].Hostname)
		w.String(a.Mounts[i].Dir)
	}
	w.Bool(false)
}

// Decode reads a mountlist: at most MaxListLen entries, host names of at
// most MaxName bytes, directories of at most MountPathLen bytes.
func (a *DumpRes) Decode(r *xdr.Reader) error {
	*a = DumpRes{}
	for more(r, len(a.Mounts)) {
		host := r.String(MaxName)
		dir := r.String(MountPathLen)
		if r.Err() != nil {
			break
		}
		a.Mounts = append(a.Mounts, MountEntry{Hostname: host, Dir: dir})
	}
	return r.Err()
}

// ExportNode is exportnode without its link: an exported directory and the
// groups (host or netgroup names) allowed to mount it. A decoded empty
// group list is nil.
type ExportNode struct {
	Dir    string
	Groups []string
}

// ExportRes is the result of MOUNTPROC3_EXPORT, the exports list. A decoded
// empty list is a nil Exports.
type ExportRes struct {
	Exports []ExportNode
}

// Encode writes a.
func (a *ExportRes) Encode(w *xdr.Writer) {
	for i := range a.Exports {
		w.Bool(true)
		w.String(a.Exports[i].Dir)
		for _, g := range a.Exports[i].Groups {
			w.Bool(true)
			w.String(g)
		}
		w.Bool(false)
	}
	w.Bool(false)
}

// Decode reads an exports list: at most MaxListLen exports with at most
// MaxListLen groups each, directories of at most MountPathLen bytes and group
// names of at most MaxName bytes.
func (a *ExportRes) Decode(r *xdr.Reader) error {
	*a = ExportRes{}
	for more(r, len(a.Exports)) {
		e := ExportNode{Dir: r.String(MountPathLen)}
		for more(r, len(e.Groups)) {
			g := r.String(MaxName)
			if r.Err() != nil {
				break
			}
			e.Groups = append(e.Groups, g)
		}
		if r.Err() != nil {
			break
		}
		a.Exports = append(a.Exports, e)
	}
	return r.Err()
}
