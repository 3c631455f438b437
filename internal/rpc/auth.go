package rpc

import (
	"fmt"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Cred is a caller's identity as carried by AUTH_SYS (or AUTH_NONE, which
// has Flavor AuthNone and no ids).
type Cred struct {
	Flavor  uint32
	Stamp   uint32
	Machine string
	UID     uint32
	GID     uint32
	NGids   int
	Gids    [MaxGroups]uint32
}

// Groups returns the supplementary groups.
func (c *Cred) Groups() []uint32 { return c.Gids[:c.NGids] }

// Key returns a compact comparable form of the identity (flavor, uid, gid,
// groups), for use as a map key. Stamp and machine name are not identity.
func (c *Cred) Key() CredKey {
	return CredKey{Flavor: c.Flavor, UID: c.UID, GID: c.GID, NGids: uint8(c.NGids), Gids: c.Gids}
}

// CredKey is a comparable identity.
type CredKey struct {
	Flavor uint32
	UID    uint32
	GID    uint32
	NGids  uint8
	Gids   [MaxGroups]uint32
}

// InGroup reports whether gid is the primary or a supplementary group.
func (c *Cred) InGroup(gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Gids[:c.NGids] {
		if g == gid {
			return true
		}
	}
	return false
}

// DecodeAuthSys decodes an authsys_parms body (the opaque of an AUTH_SYS
// credential).
func DecodeAuthSys(body []byte) (Cred, error) {
	var c Cred
	r := xdr.NewReader(body)
	c.Flavor = AuthSys
	c.Stamp = r.Uint32()
	c.Machine = r.String(MaxMachineName)
	c.UID = r.Uint32()
	c.GID = r.Uint32()
	n := r.Uint32()
	if r.Err() == nil && n > MaxGroups {
		return c, fmt.Errorf("%w: %d groups > %d", ErrBadCred, n, MaxGroups)
	}
	for i := 0; i < int(n) && r.Err() == nil; i++ {
		c.Gids[i] = r.Uint32()
	}
	c.NGids = int(n)
	if err := r.Err(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrBadCred, err)
	}
	if r.Remaining() != 0 {
		return c, fmt.Errorf("%w: %d trailing bytes", ErrBadCred, r.Remaining())
	}
	return c, nil
}

// EncodeCred writes the credential as an opaque_auth (flavor + body).
func EncodeCred(w *xdr.Writer, c *Cred) {
	if c.Flavor != AuthSys {
		w.Uint32(AuthNone)
		w.Uint32(0)
		return
	}
	w.Uint32(AuthSys)
	lenAt := w.Len()
	w.Uint32(0)
	w.Uint32(c.Stamp)
	w.String(c.Machine)
	w.Uint32(c.UID)
	w.Uint32(c.GID)
	w.Uint32(uint32(c.NGids))
	for _, g := range c.Gids[:c.NGids] {
		w.Uint32(g)
	}
	n := w.Len() - lenAt - 4
	b := w.Buf[lenAt:]
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}
