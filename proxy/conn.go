package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// conn is one client connection.
type conn struct {
	s      *Server
	nc     net.Conn
	remote netip.AddrPort
	slots  chan struct{} // per-connection in-flight bound
	wg     sync.WaitGroup

	writeMu sync.Mutex // serialises replies onto nc
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, slots: make(chan struct{}, s.opts.PerConnLimit)}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.remote = ta.AddrPort()
		c.remote = netip.AddrPortFrom(c.remote.Addr().Unmap(), c.remote.Port())
	}
	return c
}

var recordPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// serve reads records until the connection ends, then waits for the
// requests it started.
func (c *conn) serve() {
	defer func() {
		c.nc.Close()
		c.wg.Wait()
	}()
	log := c.s.log.With("client", c.remote.String())
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		// Take the slots before reading, so a client at its bound is not
		// read from (TCP pushes back) and we never hold a record we cannot
		// start.
		select {
		case c.slots <- struct{}{}:
		case <-c.s.ctx.Done():
			return
		}
		select {
		case c.s.global <- struct{}{}:
		case <-c.s.ctx.Done():
			<-c.slots
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
		bp := recordPool.Get().(*[]byte)
		rec, err := rpc.ReadRecord(br, *bp, c.s.opts.MaxRecord)
		if err != nil {
			recordPool.Put(bp)
			<-c.s.global
			<-c.slots
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("connection closed", "err", err)
				if errors.Is(err, rpc.ErrRecordTooLarge) {
					c.s.stats.badRecords.Add(1)
				}
			}
			return
		}
		*bp = rec
		c.wg.Add(1)
		c.s.stats.inflight.Add(1)
		go c.handle(bp)
	}
}

// handle serves one request and writes its reply.
func (c *conn) handle(bp *[]byte) {
	defer func() {
		recordPool.Put(bp)
		c.s.stats.inflight.Add(-1)
		<-c.s.global
		<-c.slots
		c.wg.Done()
	}()
	wp := recordPool.Get().(*[]byte)
	defer recordPool.Put(wp)
	w := xdr.NewWriter((*wp)[:0])
	w.Uint32(0) // record mark
	if !c.dispatch(*bp, w) {
		return
	}
	*wp = w.Buf
	rpc.SetRecordHeader(w.Buf)
	c.writeMu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	_, err := c.nc.Write(w.Buf)
	c.writeMu.Unlock()
	if err != nil {
		// A client that does not read its replies loses its connection;
		// closing wakes the reader.
		c.nc.Close()
	}
}

// dispatch decodes the call header, runs the procedure and leaves the reply
// in w. It returns false when no reply is to be sent.
func (c *conn) dispatch(rec []byte, w *xdr.Writer) (reply bool) {
	var r xdr.Reader
	r.Reset(rec)
	var h rpc.CallHeader
	if err := rpc.DecodeCall(&r, &h); err != nil {
		// Not a call, or a header too short to answer: drop it.
		c.s.stats.garbage.Add(1)
		return false
	}
	mark := w.Len()
	defer func() {
		if p := recover(); p != nil {
			c.s.stats.panics.Add(1)
			c.s.log.Error("panic in request", "xid", h.XID, "prog", h.Prog, "proc", h.Proc,
				"client", c.remote.String(), "panic", p, "stack", string(debug.Stack()))
			w.Buf = w.Buf[:mark]
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.SystemErr)
			reply = true
		}
	}()
	if h.RPCVers != rpc.RPCVersion {
		rpc.EncodeRPCMismatch(w, h.XID)
		return true
	}
	if h.CredErr != nil {
		c.s.stats.authErrors.Add(1)
		stat := uint32(rpc.AuthBadCred)
		if h.Cred.Flavor != rpc.AuthSys && h.Cred.Flavor != rpc.AuthNone {
			stat = rpc.AuthRejectedCred
		}
		rpc.EncodeAuthError(w, h.XID, stat)
		return true
	}
	if h.VerfFlav != rpc.AuthNone {
		rpc.EncodeAuthError(w, h.XID, rpc.AuthBadVerf)
		return true
	}
	var handler func(*request, *xdr.Reader, *xdr.Writer) error
	switch h.Prog {
	case nfsProgram:
		if h.Vers != nfsVersion {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgMismatch)
			w.Uint32(nfsVersion)
			w.Uint32(nfsVersion)
			return true
		}
		if int(h.Proc) >= len(nfsHandlers) {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
			return true
		}
		handler = nfsHandlers[h.Proc]
	case mountProgram:
		if h.Vers != mountVersion {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgMismatch)
			w.Uint32(mountVersion)
			w.Uint32(mountVersion)
			return true
		}
		if int(h.Proc) >= len(mountHandlers) {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
			return true
		}
		handler = mountHandlers[h.Proc]
	default:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgUnavail)
		return true
	}

	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opts.RequestTimeout)
	defer cancel()
	if nonIdempotent(h.Prog, h.Proc) {
		start := time.Now()
		e, owner := c.s.drc.begin(makeDRCKey(c.remote.Addr(), h.XID, h.Proc, rec[r.Offset():]), start)
		if !owner {
			c.s.stats.drcHits.Add(1)
			reply, ok := e.wait(ctx)
			if !ok {
				return false
			}
			w.Buf = append(w.Buf, reply...)
			return true
		}
		sent := false
		defer func() {
			if sent {
				c.s.drc.finish(e, w.Buf[mark:])
			} else {
				c.s.drc.finish(e, nil)
			}
		}()
		sent = c.run(ctx, &h, handler, &r, w, mark)
		return sent
	}
	return c.run(ctx, &h, handler, &r, w, mark)
}

// run executes handler and leaves the reply in w (from mark on).
func (c *conn) run(ctx context.Context, h *rpc.CallHeader, handler func(*request, *xdr.Reader, *xdr.Writer) error, r *xdr.Reader, w *xdr.Writer, mark int) bool {
	req := &request{ctx: ctx, s: c.s, c: c, xid: h.XID, prog: h.Prog, proc: h.Proc, cred: h.Cred}
	rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
	start := time.Now()
	err := handler(req, r, w)
	d := time.Since(start)
	c.s.stats.observe(h.Prog, h.Proc, d, req.status)
	c.s.observe(h.Prog, h.Proc, d, err == nil && req.status == nfs3.StatOK)
	if err != nil {
		if errors.Is(err, errGarbage) {
			c.s.stats.garbage.Add(1)
			w.Buf = w.Buf[:mark]
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.GarbageArgs)
			return true
		}
		if errors.Is(err, errDrop) {
			return false
		}
		w.Buf = w.Buf[:mark]
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.SystemErr)
	}
	return true
}
