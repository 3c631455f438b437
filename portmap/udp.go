package portmap

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// ServeUDP answers datagrams on pc until Close, on the calling goroutine.
// It returns ErrClosed after Close. A datagram over 16 KiB or one that is
// not a parsable call is dropped.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	if !s.grp.Enter(pc) {
		pc.Close()
		return ErrClosed
	}
	defer s.grp.Leave(pc)

	u, _ := pc.(*net.UDPConn)
	pktinfo := u != nil && enablePktinfo(u)
	bound := addrOf(pc.LocalAddr())
	buf := make([]byte, maxRecord+1)
	oob := make([]byte, 512)
	w := xdr.NewWriter(make([]byte, 0, 4096))
	var backoff time.Duration
	for {
		var (
			n      int
			remote netip.AddrPort
			local  = bound
			ctl    []byte
			err    error
		)
		if u != nil {
			var oobn int
			n, oobn, _, remote, err = u.ReadMsgUDPAddrPort(buf, oob)
			if err == nil && pktinfo {
				if a, c := parsePktinfo(oob[:oobn]); a.IsValid() {
					local, ctl = a, c
				}
			}
		} else {
			var ra net.Addr
			n, ra, err = pc.ReadFrom(buf)
			if ua, ok := ra.(*net.UDPAddr); ok {
				remote = ua.AddrPort()
			}
		}
		if err != nil {
			if s.grp.Closed() || errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("portmap: udp read", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if n > maxRecord {
			s.stats.garbage.Add(1)
			continue
		}
		if local.IsUnspecified() || !local.IsValid() {
			local = routeSource(remote)
		}
		w.Buf = w.Buf[:0]
		if !s.dispatch(buf[:n], query{local: local, udp: true}, w) {
			continue
		}
		pc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if u != nil {
			_, _, err = u.WriteMsgUDPAddrPort(w.Buf, ctl, remote)
		} else {
			_, err = pc.WriteTo(w.Buf, net.UDPAddrFromAddrPort(remote))
		}
		if err != nil {
			s.log.Debug("portmap: udp reply", "client", remote.String(), "err", err)
		}
	}
}

// routeSource returns the local address the system would send from to
// reach remote (a UDP "connect" sends nothing), or the zero Addr.
func routeSource(remote netip.AddrPort) netip.Addr {
	if !remote.IsValid() {
		return netip.Addr{}
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return addrOf(c.LocalAddr())
}
