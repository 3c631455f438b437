package portmap

import (
	"fmt"
	"log/slog"
	"time"
)

// Protocol numbers of Mapping.Prot (pmap v2).
const (
	ProtTCP = 6
	ProtUDP = 17
)

// Mapping is one registration served by the portmapper.
//
// Prot (v2) and Netid (v3, v4) name the transport; set either and the other
// is derived: ProtTCP ⇔ "tcp", ProtUDP ⇔ "udp". The IPv6 netids "tcp6" and
// "udp6" derive ProtTCP and ProtUDP but are not listed by v2, which is
// IPv4-only. Addr, when set, is a complete universal address returned
// verbatim by GETADDR, GETVERSADDR and DUMP; when empty the address is built
// from the local address the query arrived on and Port. Owner is shown by
// v3/v4 DUMP (default "superuser", as rpcbind shows root's registrations).
type Mapping struct {
	Prog, Vers, Prot uint32
	Port             uint32
	Netid, Addr      string
	Owner            string
}

// Options configures a Server. The zero value works (and serves only
// NULL, DUMP's empty list and "not registered").
type Options struct {
	Mappings []Mapping

	MaxConns    int           // TCP connections served at once; more are closed (default 256)
	IdleTimeout time.Duration // a TCP connection idle this long is closed (default 2m)

	Logger *slog.Logger
}

const (
	maxRecord    = 16 << 10 // largest call accepted (TCP record or UDP datagram)
	maxString    = 1024     // netid, universal address, owner in arguments
	writeTimeout = 30 * time.Second
	defaultOwner = "superuser"
)

func (o *Options) setDefaults() {
	if o.MaxConns == 0 {
		o.MaxConns = 256
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ms := make([]Mapping, len(o.Mappings))
	for i, m := range o.Mappings {
		if m.Netid == "" {
			switch m.Prot {
			case ProtTCP:
				m.Netid = "tcp"
			case ProtUDP:
				m.Netid = "udp"
			}
		}
		if m.Prot == 0 {
			switch m.Netid {
			case "tcp", "tcp6":
				m.Prot = ProtTCP
			case "udp", "udp6":
				m.Prot = ProtUDP
			}
		}
		if m.Owner == "" {
			m.Owner = defaultOwner
		}
		ms[i] = m
	}
	o.Mappings = ms
}

// Validate reports the first invalid field.
func (o *Options) Validate() error {
	if o.MaxConns < 1 {
		return fmt.Errorf("portmap: MaxConns: %d is below 1", o.MaxConns)
	}
	if o.IdleTimeout < 0 {
		return fmt.Errorf("portmap: IdleTimeout: %v is negative", o.IdleTimeout)
	}
	for i, m := range o.Mappings {
		switch {
		case m.Prog == 0:
			return fmt.Errorf("portmap: Mappings[%d].Prog: 0 is not a program", i)
		case m.Port > 65535:
			return fmt.Errorf("portmap: Mappings[%d].Port: %d is over 65535", i, m.Port)
		case m.Netid == "":
			return fmt.Errorf("portmap: Mappings[%d]: neither Netid nor a known Prot (6 or 17; got %d) is set", i, m.Prot)
		case !isInetNetid(m.Netid) && m.Addr == "":
			return fmt.Errorf("portmap: Mappings[%d].Addr: required for netid %q", i, m.Netid)
		case (m.Netid == "tcp" || m.Netid == "tcp6") && m.Prot != ProtTCP,
			(m.Netid == "udp" || m.Netid == "udp6") && m.Prot != ProtUDP:
			return fmt.Errorf("portmap: Mappings[%d].Prot: %d does not match netid %q", i, m.Prot, m.Netid)
		case len(m.Netid) > maxString || len(m.Addr) > maxString || len(m.Owner) > maxString:
			return fmt.Errorf("portmap: Mappings[%d]: Netid, Addr or Owner is over %d bytes", i, maxString)
		}
	}
	return nil
}

func isInetNetid(netid string) bool {
	switch netid {
	case "tcp", "udp", "tcp6", "udp6":
		return true
	}
	return false
}

// Well-known program numbers used by ProxyMappings.
const (
	ProgPortmap = 100000
	ProgNFS     = 100003
	ProgMount   = 100005
)

// ProxyMappings returns the table a proxy serving NFSv3 on nfsPort and
// MOUNT v3 on mountPort (often the same port) over TCP, with this
// portmapper on pmapPort over TCP and UDP, registers: each for netids tcp
// and tcp6 (udp and udp6 too for the portmapper itself). Nothing is mapped
// on UDP for NFS and MOUNT, so clients that ask for UDP first (mount.nfs
// does for MOUNT) get "not registered" and fall back to TCP.
func ProxyMappings(nfsPort, mountPort, pmapPort uint32) []Mapping {
	var ms []Mapping
	for _, v := range []uint32{4, 3, 2} {
		for _, n := range []string{"tcp", "udp", "tcp6", "udp6"} {
			ms = append(ms, Mapping{Prog: ProgPortmap, Vers: v, Netid: n, Port: pmapPort})
		}
	}
	for _, n := range []string{"tcp", "tcp6"} {
		ms = append(ms, Mapping{Prog: ProgNFS, Vers: 3, Netid: n, Port: nfsPort})
	}
	for _, n := range []string{"tcp", "tcp6"} {
		ms = append(ms, Mapping{Prog: ProgMount, Vers: 3, Netid: n, Port: mountPort})
	}
	return ms
}

// Program numbers of the lock manager (NLM) and status monitor (NSM).
const (
	ProgNLM = 100021
	ProgNSM = 100024
)

// NLMMappings returns the table entries of an NLM v4 server on tcpPort
// (netids tcp, tcp6) and udpPort (udp, udp6) that also takes NSM v1's
// SM_NOTIFY on the same ports, to append to ProxyMappings'.
func NLMMappings(tcpPort, udpPort uint32) []Mapping {
	var ms []Mapping
	for _, pv := range [][2]uint32{{ProgNLM, 4}, {ProgNSM, 1}} {
		for _, n := range []string{"tcp", "tcp6"} {
			ms = append(ms, Mapping{Prog: pv[0], Vers: pv[1], Netid: n, Port: tcpPort})
		}
		for _, n := range []string{"udp", "udp6"} {
			ms = append(ms, Mapping{Prog: pv[0], Vers: pv[1], Netid: n, Port: udpPort})
		}
	}
	return ms
}
