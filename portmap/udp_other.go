//go:build !linux

package portmap

import (
	"net"
	"net/netip"
)

// enablePktinfo is Linux-only; elsewhere the local address comes from the
// socket or the route to the client.
func enablePktinfo(*net.UDPConn) bool { return false }

func parsePktinfo([]byte) (netip.Addr, []byte) { return netip.Addr{}, nil }
