package proxy

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// This file is the one place that turns a handler's result into what the
// rest of the server sees of it: the reply's status, the statistics and
// latency metrics, the log line of a rejected request, the RPC-level
// answer to a handler error. Handlers only encode their reply (every
// NFSv3 result begins with its nfsstat3) or return errGarbage / errDrop.

// replyStatus is the status of an encoded NFSv3 reply body: its first
// word. NULL (no body) and MOUNT replies count as OK, as their status is
// not an nfsstat3.
func replyStatus(prog uint32, body []byte) nfs3.Stat {
	if prog != nfsProgram || len(body) < 4 {
		return nfs3.StatOK
	}
	return nfs3.Stat(binary.BigEndian.Uint32(body))
}

// finish accounts for a handler that returned err after d, having encoded
// its reply into w from body on (the accepted header starts at mark), and
// rewrites the reply for a handler error. It returns false when no reply
// is to be sent.
func (req *request) finish(w *xdr.Writer, mark, body int, d time.Duration, err error) bool {
	s := req.s
	st := nfs3.StatOK
	if err == nil {
		st = replyStatus(req.prog, w.Buf[body:])
	}
	s.stats.observe(req.prog, req.proc, d, st)
	s.observe(req.prog, req.proc, req.resultOf(), d, err == nil && st == nfs3.StatOK)
	if req.servedStale {
		// Also a stale negative LOOKUP (NOENT); once per request.
		s.stats.staleServed.Add(1)
	}
	if err == nil {
		return true
	}
	if errors.Is(err, errGarbage) {
		s.stats.garbage.Add(1)
		s.noteGarbage(req, err)
		w.Buf = w.Buf[:mark]
		rpc.EncodeAcceptedHeader(w, req.xid, rpc.GarbageArgs)
		return true
	}
	if errors.Is(err, errDrop) {
		return false
	}
	w.Buf = w.Buf[:mark]
	rpc.EncodeAcceptedHeader(w, req.xid, rpc.SystemErr)
	return true
}
