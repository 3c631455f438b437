package portmap

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// enablePktinfo asks the kernel for the destination address of each
// datagram (IP_PKTINFO, IPV6_RECVPKTINFO), reporting whether either took.
// An IPv4 socket refuses the IPv6 option and that is fine.
func enablePktinfo(u *net.UDPConn) bool {
	rc, err := u.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) == nil {
			ok = true
		}
		if unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) == nil {
			ok = true
		}
	})
	return ok
}

// parsePktinfo returns the local address a datagram arrived on and the
// control message that makes the reply leave from it.
func parsePktinfo(oob []byte) (netip.Addr, []byte) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return netip.Addr{}, nil
		}
		oob = rest
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			var pi unix.Inet4Pktinfo
			copy(pi.Spec_dst[:], data[4:8])
			return netip.AddrFrom4(pi.Spec_dst), unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: pi.Spec_dst})
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			var pi unix.Inet6Pktinfo
			copy(pi.Addr[:], data[:16])
			pi.Ifindex = binary.NativeEndian.Uint32(data[16:20])
			a := netip.AddrFrom16(pi.Addr)
			if a.Is4In6() {
				a = a.Unmap()
			}
			return a, unix.PktInfo6(&pi)
		}
	}
	return netip.Addr{}, nil
}
