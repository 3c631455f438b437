package portmap

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// Portmap version 2 procedures (RFC 1833 section 3.2).
const (
	pmapNull    = 0
	pmapSet     = 1
	pmapUnset   = 2
	pmapGetport = 3
	pmapDump    = 4
	pmapCallit  = 5
)

// pmapping is the v2 argument of SET, UNSET and GETPORT.
type pmapping struct{ prog, vers, prot, port uint32 }

func (m *pmapping) decode(r *xdr.Reader) error {
	m.prog, m.vers, m.prot, m.port = r.Uint32(), r.Uint32(), r.Uint32(), r.Uint32()
	if r.Err() != nil {
		return errGarbage
	}
	return nil
}

// v2Netid is the netid a v2 protocol number stands for; v2 is IPv4-only.
func v2Netid(prot uint32) string {
	switch prot {
	case ProtTCP:
		return "tcp"
	case ProtUDP:
		return "udp"
	}
	return ""
}

// pmap serves one portmap v2 call, writing its results after the reply
// header already in w.
func (s *Server) pmap(proc uint32, r *xdr.Reader, q query, w *xdr.Writer) error {
	switch proc {
	case pmapNull:
		return nil
	case pmapSet, pmapUnset:
		var m pmapping
		if err := m.decode(r); err != nil {
			return err
		}
		w.Bool(false) // the table is fixed: nothing registers here
		return nil
	case pmapGetport:
		var m pmapping
		if err := m.decode(r); err != nil {
			return err
		}
		var port uint32
		if n := v2Netid(m.prot); n != "" {
			if hit := s.lookup(m.prog, m.vers, n, false); hit != nil {
				port = hit.Port
			}
		}
		w.Uint32(port)
		return nil
	case pmapDump:
		for i := range s.mappings {
			m := &s.mappings[i]
			if m.Netid != "tcp" && m.Netid != "udp" {
				continue
			}
			w.Bool(true)
			w.Uint32(m.Prog)
			w.Uint32(m.Vers)
			w.Uint32(m.Prot)
			w.Uint32(m.Port)
		}
		w.Bool(false)
		return nil
	}
	return errProcUnavail // CALLIT and anything unknown
}
