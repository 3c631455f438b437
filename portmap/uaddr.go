package portmap

import (
	"net/netip"
	"strconv"
)

// uaddr returns the universal address (RFC 5665 section 5.2.3) of port on
// local, in the family of netid: "h1.h2.h3.h4.p1.p2" for tcp and udp,
// "x:…:x.p1.p2" for tcp6 and udp6. An IPv4 address asked for as IPv6 is
// written IPv4-mapped; an IPv6 address cannot be written for an IPv4 netid
// and yields "". An invalid local address yields "".
func uaddr(local netip.Addr, port uint32, netid string) string {
	if !local.IsValid() {
		return ""
	}
	local = local.WithZone("")
	v6 := netid == "tcp6" || netid == "udp6"
	switch {
	case v6 && local.Is4():
		local = netip.AddrFrom16(local.As16())
	case !v6 && local.Is4In6():
		local = local.Unmap()
	case !v6 && !local.Is4():
		return ""
	}
	b := make([]byte, 0, 48)
	b = local.AppendTo(b)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(port>>8&0xff), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(port&0xff), 10)
	return string(b)
}

// addrFor returns what GETADDR, GETVERSADDR and DUMP report for m when the
// query arrived on local.
func addrFor(m *Mapping, local netip.Addr) string {
	if m.Addr != "" {
		return m.Addr
	}
	return uaddr(local, m.Port, m.Netid)
}
