package proxy

import (
	"net/netip"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// Policy is a volume's export policy: which clients may use it and as whom
// their calls reach the upstream. The zero value lets everyone in with their
// own identity, like an export with no_root_squash.
type Policy struct {
	Clients     []netip.Prefix // allowed client networks; empty = everyone
	RootSquash  bool           // uid 0 and gid 0 become AnonUID/AnonGID
	AllSquash   bool           // every caller becomes AnonUID/AnonGID
	AnonUID     uint32
	AnonGID     uint32
	SecurePorts bool // refuse clients whose source port is 1024 or above
}

// allows reports whether a client at addr may use the volume.
func (p *Policy) allows(addr netip.AddrPort) bool {
	if p.SecurePorts && addr.Port() >= 1024 {
		return false
	}
	if len(p.Clients) == 0 {
		return true
	}
	a := addr.Addr().Unmap()
	for _, n := range p.Clients {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// squash rewrites c as the upstream should see it. AUTH_NONE callers are
// anonymous: they reach the upstream as AUTH_SYS AnonUID/AnonGID.
func (p *Policy) squash(c *rpc.Cred) {
	if c.Flavor != rpc.AuthSys || p.AllSquash {
		*c = rpc.Cred{Flavor: rpc.AuthSys, Machine: c.Machine, Stamp: c.Stamp, UID: p.AnonUID, GID: p.AnonGID}
		return
	}
	if !p.RootSquash {
		return
	}
	if c.UID == 0 {
		c.UID = p.AnonUID
	}
	if c.GID == 0 {
		c.GID = p.AnonGID
	}
	for i := range c.Gids[:c.NGids] {
		if c.Gids[i] == 0 {
			c.Gids[i] = p.AnonGID
		}
	}
}

// groups lists the allowed networks for MOUNT EXPORT.
func (p *Policy) groups() []string {
	if len(p.Clients) == 0 {
		return nil
	}
	g := make([]string, len(p.Clients))
	for i, n := range p.Clients {
		g[i] = n.String()
	}
	return g
}
