package portmap

import (
	"errors"
	"net/netip"
	"runtime/debug"
	"strings"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Versions of program 100000 served.
const (
	versPmap   = 2
	versRpcb3  = 3
	versRpcb4  = 4
	lowestVers = versPmap
	highVers   = versRpcb4
)

// errGarbage is returned by a procedure whose arguments do not decode.
var errGarbage = errors.New("portmap: garbage arguments")

// errProcUnavail is returned by a procedure this server does not serve.
var errProcUnavail = errors.New("portmap: procedure unavailable")

// query is where a call arrived: its local address (for universal
// addresses) and its transport.
type query struct {
	local netip.Addr
	udp   bool
}

// netid returns the netid of the transport the query arrived on.
func (q query) netid() string {
	n := "tcp"
	if q.udp {
		n = "udp"
	}
	if q.local.Is6() && !q.local.Is4In6() {
		n += "6"
	}
	return n
}

// dispatch decodes the call in msg and leaves the reply in w. It returns
// false when no reply is to be sent (msg is not a parsable call).
func (s *Server) dispatch(msg []byte, q query, w *xdr.Writer) (reply bool) {
	var r xdr.Reader
	r.Reset(msg)
	var h rpc.CallHeader
	if err := rpc.DecodeCall(&r, &h); err != nil {
		s.stats.garbage.Add(1)
		return false
	}
	s.stats.calls.Add(1)
	mark := w.Len()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in portmap call", "xid", h.XID, "proc", h.Proc, "panic", p, "stack", string(debug.Stack()))
			w.Buf = w.Buf[:mark]
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.SystemErr)
			reply = true
		}
	}()
	switch {
	case h.RPCVers != rpc.RPCVersion:
		rpc.EncodeRPCMismatch(w, h.XID)
		return true
	case h.CredErr != nil:
		stat := uint32(rpc.AuthBadCred)
		if h.Cred.Flavor != rpc.AuthSys && h.Cred.Flavor != rpc.AuthNone {
			stat = rpc.AuthRejectedCred
		}
		rpc.EncodeAuthError(w, h.XID, stat)
		return true
	case h.VerfFlav != rpc.AuthNone:
		rpc.EncodeAuthError(w, h.XID, rpc.AuthBadVerf)
		return true
	case h.Prog != ProgPortmap:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgUnavail)
		return true
	case h.Vers < lowestVers || h.Vers > highVers:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgMismatch)
		w.Uint32(lowestVers)
		w.Uint32(highVers)
		return true
	}
	rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
	var err error
	if h.Vers == versPmap {
		err = s.pmap(h.Proc, &r, q, w)
	} else {
		err = s.rpcb(h.Vers, h.Proc, &r, q, w)
	}
	switch {
	case errors.Is(err, errGarbage):
		s.stats.garbage.Add(1)
		w.Buf = w.Buf[:mark]
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.GarbageArgs)
	case errors.Is(err, errProcUnavail):
		w.Buf = w.Buf[:mark]
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
	case err != nil:
		w.Buf = w.Buf[:mark]
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.SystemErr)
	}
	return true
}

// lookup finds the mapping of prog on netid: the one for vers when there is
// one, otherwise (unless exact) the first of another version, as rpcbind
// does. It returns nil when prog is not mapped on netid.
func (s *Server) lookup(prog, vers uint32, netid string, exact bool) *Mapping {
	var hit *Mapping
	for i := range s.mappings {
		m := &s.mappings[i]
		if m.Prog != prog || !strings.EqualFold(m.Netid, netid) {
			continue
		}
		if m.Vers == vers {
			return m
		}
		if hit == nil && !exact {
			hit = m
		}
	}
	return hit
}
