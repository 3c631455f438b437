package rpc

import (
	"fmt"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// CallHeader is a decoded call_body plus the xid.
type CallHeader struct {
	XID      uint32
	RPCVers  uint32
	Prog     uint32
	Vers     uint32
	Proc     uint32
	Cred     Cred
	CredErr  error  // set when the credential is of a known flavor but malformed, or of an unsupported flavor
	VerfFlav uint32 // VerfUnreadable when the verifier could not be read
}

// VerfUnreadable is CallHeader.VerfFlav for a verifier that could not be
// decoded: not AUTH_NONE, so it is answered with AUTH_BADVERF.
const VerfUnreadable = ^uint32(0)

// DecodeCall decodes the call header from r (positioned at the start of a
// record). The RPC version is returned, not checked: a wrong version gets an
// RPC_MISMATCH reply, which needs the xid. An error is returned only when
// the header itself cannot be parsed; then no reply is possible beyond
// dropping the connection.
func DecodeCall(r *xdr.Reader, h *CallHeader) error {
	h.XID = r.Uint32()
	mt := r.Uint32()
	if r.Err() != nil {
		return fmt.Errorf("rpc: decode call: %w", r.Err())
	}
	if mt != Call {
		return ErrNotCall
	}
	h.RPCVers = r.Uint32()
	h.Prog = r.Uint32()
	h.Vers = r.Uint32()
	h.Proc = r.Uint32()
	flavor := r.Uint32()
	if err := r.Err(); err != nil {
		return fmt.Errorf("rpc: decode call: %w", err)
	}
	// From here on the call can be answered (its xid is known): a
	// credential or verifier that cannot be read — longer than RFC 5531's
	// 400 bytes, or cut short — gets AUTH_ERROR rather than silence.
	body := r.Opaque(MaxAuthBytes)
	if err := r.Err(); err != nil {
		h.Cred = Cred{Flavor: flavor}
		h.CredErr = fmt.Errorf("%w: %w", ErrBadCred, err)
		h.VerfFlav = AuthNone
		return nil
	}
	h.VerfFlav = r.Uint32()
	r.Opaque(MaxAuthBytes)
	if r.Err() != nil {
		h.VerfFlav = VerfUnreadable
	}
	h.CredErr = nil
	switch flavor {
	case AuthNone:
		h.Cred = Cred{Flavor: AuthNone}
	case AuthSys:
		c, err := DecodeAuthSys(body)
		h.Cred = c
		h.CredErr = err
	default:
		h.Cred = Cred{Flavor: flavor}
		h.CredErr = fmt.Errorf("%w: flavor %d not supported", ErrBadCred, flavor)
	}
	return nil
}

// EncodeCall writes a call header with the given credential and an
// AUTH_NONE verifier.
func EncodeCall(w *xdr.Writer, xid, prog, vers, proc uint32, cred *Cred) {
	w.Uint32(xid)
	w.Uint32(Call)
	w.Uint32(RPCVersion)
	w.Uint32(prog)
	w.Uint32(vers)
	w.Uint32(proc)
	EncodeCred(w, cred)
	w.Uint32(AuthNone)
	w.Uint32(0)
}

// EncodeAcceptedHeader writes an accepted reply header with the given
// accept_stat; for ProgMismatch the caller then writes low and high.
func EncodeAcceptedHeader(w *xdr.Writer, xid uint32, stat uint32) {
	w.Uint32(xid)
	w.Uint32(Reply)
	w.Uint32(MsgAccepted)
	w.Uint32(AuthNone)
	w.Uint32(0)
	w.Uint32(stat)
}

// EncodeRPCMismatch writes a denied reply for a wrong RPC version.
func EncodeRPCMismatch(w *xdr.Writer, xid uint32) {
	w.Uint32(xid)
	w.Uint32(Reply)
	w.Uint32(MsgDenied)
	w.Uint32(RPCMismatch)
	w.Uint32(RPCVersion)
	w.Uint32(RPCVersion)
}

// EncodeAuthError writes a denied reply with an auth_stat.
func EncodeAuthError(w *xdr.Writer, xid uint32, stat uint32) {
	w.Uint32(xid)
	w.Uint32(Reply)
	w.Uint32(MsgDenied)
	w.Uint32(AuthError)
	w.Uint32(stat)
}

// ReplyError describes a reply that carries no results: an accepted reply
// whose accept_stat is not SUCCESS, or a denied reply.
type ReplyError struct {
	Denied     bool
	AcceptStat uint32
	RejectStat uint32
	AuthStat   uint32
	Low, High  uint32
}

func (e *ReplyError) Error() string {
	if e.Denied {
		if e.RejectStat == RPCMismatch {
			return fmt.Sprintf("rpc: denied: rpc version mismatch (%d-%d)", e.Low, e.High)
		}
		return fmt.Sprintf("rpc: denied: auth error %d", e.AuthStat)
	}
	switch e.AcceptStat {
	case ProgUnavail:
		return "rpc: program unavailable"
	case ProgMismatch:
		return fmt.Sprintf("rpc: program version mismatch (%d-%d)", e.Low, e.High)
	case ProcUnavail:
		return "rpc: procedure unavailable"
	case GarbageArgs:
		return "rpc: garbage arguments"
	case SystemErr:
		return "rpc: system error"
	}
	return fmt.Sprintf("rpc: accept status %d", e.AcceptStat)
}

// DecodeReply decodes a reply header. On an accepted SUCCESS reply it
// returns nil with r positioned at the results; otherwise a *ReplyError or a
// decode error.
func DecodeReply(r *xdr.Reader) (xid uint32, err error) {
	xid = r.Uint32()
	mt := r.Uint32()
	if r.Err() != nil {
		return xid, fmt.Errorf("rpc: decode reply: %w", r.Err())
	}
	if mt != Reply {
		return xid, ErrNotReply
	}
	switch r.Uint32() {
	case MsgAccepted:
		r.Uint32()
		r.Opaque(MaxAuthBytes)
		st := r.Uint32()
		if r.Err() != nil {
			return xid, fmt.Errorf("rpc: decode reply: %w", r.Err())
		}
		if st == Success {
			return xid, nil
		}
		e := &ReplyError{AcceptStat: st}
		if st == ProgMismatch {
			e.Low, e.High = r.Uint32(), r.Uint32()
		}
		return xid, e
	case MsgDenied:
		e := &ReplyError{Denied: true, RejectStat: r.Uint32()}
		if e.RejectStat == RPCMismatch {
			e.Low, e.High = r.Uint32(), r.Uint32()
		} else {
			e.AuthStat = r.Uint32()
		}
		if r.Err() != nil {
			return xid, fmt.Errorf("rpc: decode reply: %w", r.Err())
		}
		return xid, e
	default:
		if r.Err() != nil {
			return xid, fmt.Errorf("rpc: decode reply: %w", r.Err())
		}
		return xid, fmt.Errorf("rpc: decode reply: bad reply_stat")
	}
}
