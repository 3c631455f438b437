package portmap

import (
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rpcbind version 3 and 4 procedures (RFC 1833 section 2.2).
const (
	rpcbNull        = 0
	rpcbSet         = 1
	rpcbUnset       = 2
	rpcbGetaddr     = 3
	rpcbDump        = 4
	rpcbCallit      = 5 // v4: BCAST
	rpcbGettime     = 6
	rpcbUaddr2taddr = 7
	rpcbTaddr2uaddr = 8
	rpcbGetversaddr = 9 // v4 only
	rpcbIndirect    = 10
	rpcbGetaddrlist = 11
	rpcbGetstat     = 12
)

// rpcbArg is the v3/v4 rpcb structure as an argument.
type rpcbArg struct {
	prog, vers         uint32
	netid, addr, owner string
}

func (a *rpcbArg) decode(r *xdr.Reader) error {
	a.prog = r.Uint32()
	a.vers = r.Uint32()
	a.netid = r.String(maxString)
	a.addr = r.String(maxString)
	a.owner = r.String(maxString)
	if r.Err() != nil {
		return errGarbage
	}
	return nil
}

// rpcb serves one rpcbind v3 or v4 call, writing its results after the
// reply header already in w.
func (s *Server) rpcb(vers, proc uint32, r *xdr.Reader, q query, w *xdr.Writer) error {
	switch proc {
	case rpcbNull:
		return nil
	case rpcbSet, rpcbUnset:
		var a rpcbArg
		if err := a.decode(r); err != nil {
			return err
		}
		w.Bool(false) // the table is fixed: nothing registers here
		return nil
	case rpcbGetaddr, rpcbGetversaddr:
		if proc == rpcbGetversaddr && vers < versRpcb4 {
			return errProcUnavail
		}
		var a rpcbArg
		if err := a.decode(r); err != nil {
			return err
		}
		netid := a.netid
		if netid == "" {
			netid = q.netid()
		}
		var addr string
		if m := s.lookup(a.prog, a.vers, netid, proc == rpcbGetversaddr); m != nil {
			addr = addrFor(m, q.local)
		}
		w.String(addr)
		return nil
	case rpcbDump:
		for i := range s.mappings {
			m := &s.mappings[i]
			addr := addrFor(m, q.local)
			if addr == "" {
				continue // an IPv4 netid asked over IPv6: no address to show
			}
			w.Bool(true)
			w.Uint32(m.Prog)
			w.Uint32(m.Vers)
			w.String(m.Netid)
			w.String(addr)
			w.String(m.Owner)
		}
		w.Bool(false)
		return nil
	case rpcbGettime:
		w.Uint32(uint32(time.Now().Unix()))
		return nil
	}
	// CALLIT/BCAST, UADDR2TADDR, TADDR2UADDR, INDIRECT, GETADDRLIST,
	// GETSTAT and anything unknown.
	return errProcUnavail
}
