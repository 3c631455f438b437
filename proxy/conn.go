package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// conn is one client connection.
//
// Resources: an idle connection holds its goroutine, a 4 KiB read buffer and
// nothing else: no in-flight slot of the server and no record buffer. A
// record buffer is taken when a record's mark arrives and grows with the
// bytes that arrive, never ahead of them, so a client that announces a large
// record and stalls holds only what it sent. The server's global slot is
// taken once a whole record is in, so idle or stalled connections cannot
// starve the others. Bytes held by records under way are charged to a
// server-wide budget (partial.go). The read deadline (IdleTimeout) runs from the wait for
// a record mark and again from the mark to the record's last byte.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	mark   [4]byte // the fragment mark being read (here, not on the heap per record)
	remote netip.AddrPort
	slots  chan struct{} // per-connection in-flight bound
	wg     sync.WaitGroup

	// ctx ends when the connection does: idempotent requests still waiting
	// on the upstream are abandoned there (nobody is left to answer), while
	// non-idempotent ones run to completion so their reply lands in the
	// DRC for the client's retransmission on a new connection.
	ctx    context.Context
	cancel context.CancelFunc

	// out queues replies for the connection's writer. A request whose
	// reply is ready while another request is writing leaves it here and
	// returns; the writer sends everything queued with one writev before
	// it lets go (send). A queued reply keeps its request's slots until
	// it is written, so a client that does not read its replies still
	// holds at most PerConnLimit of them.
	out struct {
		sync.Mutex
		queue   []outReply // record-marked replies, in order
		spare   []outReply // the other queue, reused
		writing bool       // a request is writing; it takes what is queued
	}
	// raw is the socket's descriptor access, for sendfile; nil when the
	// connection has none (then READ payloads are always copied). sw and
	// swStep are the writer's (writeSpan).
	raw    syscall.RawConn
	sw     spanWrite
	swStep func(fd uintptr) bool
	// Owned by the writer (out.writing): the iovecs of a batch, and
	// whether a write failed (the connection is closed; nothing more is
	// sent).
	iovs   [][]byte    // backing of iov
	iov    net.Buffers // consumed by its WriteTo
	broken bool

	// partial is what the record under way holds, charged to
	// Server.partial; partialDropped is set when the budget closed this
	// connection. Both guarded by Server.partial.mu.
	partial        int64
	partialDropped bool
}

// readBufferSize is the connection's read buffer. Bigger reads (the body of
// a WRITE) go straight from the socket into the record buffer.
const readBufferSize = 4 << 10

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, readBufferSize), slots: make(chan struct{}, s.opts.PerConnLimit)}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	if sc, ok := nc.(syscall.Conn); ok && !s.opts.NoSendfile {
		c.raw, _ = sc.SyscallConn()
		c.swStep = c.spanStep // made once: a reply's sendfile allocates nothing
	}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.remote = ta.AddrPort()
		c.remote = netip.AddrPortFrom(c.remote.Addr().Unmap(), c.remote.Port())
	}
	return c
}

var recordPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// outReply is a reply waiting to be written: a record-marked buffer from
// recordPool and, for a READ served from the cache file, the payload
// that follows it there (span.N > 0), counted in the record mark.
type outReply struct {
	buf  *[]byte
	span cache.Span
}

func (r *outReply) size() int { return len(*r.buf) + r.span.N }

// serve reads records until the connection ends, then waits for the
// requests it started.
func (c *conn) serve() {
	defer func() {
		c.nc.Close()
		c.cancel()
		c.wg.Wait()
	}()
	log := c.s.log.With("client", c.remote.String())
	for {
		// Take a slot of the connection before reading, so a client at its
		// bound is not read from (TCP pushes back).
		select {
		case c.slots <- struct{}{}:
		default:
			if !c.awaitSlot() {
				return
			}
		}
		bp, err := c.readRecord()
		if err != nil {
			<-c.slots
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			case errors.Is(err, os.ErrDeadlineExceeded):
				c.s.connStats.idleClosed.Add(1)
				log.Debug("connection closed: idle or stalled", "idle_timeout", c.s.opts.IdleTimeout)
			default:
				if errors.Is(err, rpc.ErrRecordTooLarge) {
					c.s.stats.badRecords.Add(1)
				}
				// errPartialBudget is counted as a rejection where it arises.
				log.Debug("connection closed", "err", err)
			}
			return
		}
		// The global slot is taken only now, with a whole record in hand:
		// while the server is at its bound, each connection holds at most
		// this one record.
		select {
		case c.s.global <- struct{}{}:
		case <-c.s.ctx.Done():
			recordPool.Put(bp)
			<-c.slots
			return
		}
		c.wg.Add(1)
		c.s.stats.inflight.Add(1)
		go c.handle(bp)
	}
}

// awaitSlot waits for a slot of the connection while it is at its bound,
// watching meanwhile for the client to leave: otherwise a client that
// fills its slots with calls to a hung upstream and disconnects would hold
// them (and their global slots) until the request timeout, as nothing
// reads its socket to see it gone. The watch peeks at most the read
// buffer's worth (readBufferSize), so TCP still pushes back. It returns
// false when the connection is to end; its requests are then cancelled.
func (c *conn) awaitSlot() bool {
	peeked := make(chan error, 1)
	watch := func() {
		c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			_, err := c.br.Peek(1)
			peeked <- err
		}()
	}
	watch()
	for {
		select {
		case c.slots <- struct{}{}:
			// The next read is the peek's: wait for it to end (it has
			// the idle deadline readRecord would set) and leave what it
			// read in the buffer.
			if err := <-peeked; err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				<-c.slots
				return false
			}
			return true
		case err := <-peeked:
			switch {
			case err == nil:
				// The next request has begun to arrive; it is read once
				// a slot frees up.
				select {
				case c.slots <- struct{}{}:
					return true
				case <-c.s.ctx.Done():
					return false
				}
			case errors.Is(err, os.ErrDeadlineExceeded):
				watch() // silent, not gone: its requests still run
			default:
				return false // gone
			}
		case <-c.s.ctx.Done():
			return false // serve closes nc, which ends the peek
		}
	}
}

// readRecord reads one record into a buffer from recordPool. It returns
// io.EOF when the connection ends between records.
func (c *conn) readRecord() (*[]byte, error) {
	idle := c.s.opts.IdleTimeout
	c.nc.SetReadDeadline(time.Now().Add(idle))
	if _, err := io.ReadFull(c.br, c.mark[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("proxy: read record mark: %w", err)
		}
		return nil, err
	}
	// The record has begun: the rest of it must arrive within
	// RecordTimeout (a stalled half-sent record holds its buffer).
	c.nc.SetReadDeadline(time.Now().Add(c.s.opts.RecordTimeout))
	c.s.stats.receiving.Add(1)
	defer c.s.stats.receiving.Add(-1)
	bp := recordPool.Get().(*[]byte)
	defer c.s.partial.release(c)
	if err := c.chargeRecord(0, cap(*bp)); err != nil {
		recordPool.Put(bp)
		return nil, err
	}
	buf, err := rpc.ReadFragmentsGrow(c.br, &c.mark, (*bp)[:0], c.s.opts.MaxRecord, c.chargeRecord)
	*bp = buf
	if err != nil {
		recordPool.Put(bp)
		return nil, err
	}
	return bp, nil
}

// handle serves one request and sends its reply.
func (c *conn) handle(bp *[]byte) {
	wp := recordPool.Get().(*[]byte)
	w := xdr.Writer{Buf: (*wp)[:0]}
	w.Uint32(0) // record mark
	var span cache.Span
	reply := c.dispatch(*bp, &w, &span)
	recordPool.Put(bp)
	*wp = w.Buf
	if !reply {
		span.Release()
		recordPool.Put(wp)
		c.done()
		return
	}
	rpc.SetRecordHeader(w.Buf)
	if span.N > 0 {
		binary.BigEndian.PutUint32(w.Buf, binary.BigEndian.Uint32(w.Buf)+uint32(span.N))
	}
	c.send(outReply{wp, span})
}

// done releases a request's slots once its reply is written or dropped.
func (c *conn) done() {
	if c.s.stats.inflight.Add(-1) == 0 {
		select {
		case c.s.idle <- struct{}{}:
		default: // a token is already there
		}
	}
	<-c.s.global
	<-c.slots
	c.wg.Done()
}

// send queues reply wp (from recordPool) and, unless another request is
// writing already, writes the queue until it is empty: replies that are
// ready together go out in one system call rather than one each. The
// requests of the written replies are done; the writer's own last, when
// it has let go of the queue, so the connection's WaitGroup covers the
// writer to its end.
func (c *conn) send(r outReply) {
	wp := r.buf
	o := &c.out
	o.Lock()
	o.queue = append(o.queue, r)
	if o.writing {
		o.Unlock()
		return
	}
	o.writing = true
	own := true // wp is still in a batch (the first), not yet recycled
	for len(o.queue) > 0 {
		batch := o.queue
		o.queue = o.spare[:0]
		o.Unlock()
		c.write(batch)
		for i := range batch {
			bp := batch[i].buf
			batch[i].span.Release()
			recordPool.Put(bp)
			batch[i] = outReply{}
			if own && bp == wp {
				// Put back now: a later batch may hold this very
				// buffer again, as another request's reply.
				own = false
				continue
			}
			c.done()
		}
		o.Lock()
		o.spare = batch[:0]
	}
	o.writing = false
	o.Unlock()
	c.done()
}

// maxWriteChunk is about what one write deadline covers: consecutive
// replies are written together up to this many bytes (or one larger
// reply), so a slow reader gets WriteTimeout per reply's worth, as
// before replies were batched.
const maxWriteChunk = 1 << 20

// write writes batch to the socket, a chunk of replies per writev; a
// reply with a span ends its chunk, whose bytes are followed by the
// span's, sent from the cache file. Called only by the writer
// (out.writing).
func (c *conn) write(batch []outReply) {
	for len(batch) > 0 && !c.broken {
		n, size := 0, 0
		c.iovs = c.iovs[:0]
		var span *cache.Span
		for n < len(batch) && (n == 0 || size+batch[n].size() <= maxWriteChunk) {
			size += batch[n].size()
			c.iovs = append(c.iovs, *batch[n].buf)
			n++
			if batch[n-1].span.N > 0 {
				span = &batch[n-1].span
				break
			}
		}
		batch = batch[n:]
		c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
		var err error
		switch {
		case span != nil:
			if err = c.writeSpan(c.iovs, span); err == nil {
				c.s.stats.sendfileBytes.Add(int64(span.N))
			}
		case n == 1:
			_, err = c.nc.Write(c.iovs[0])
		default:
			c.iov = c.iovs
			_, err = c.iov.WriteTo(c.nc)
		}
		clear(c.iovs)
		if err != nil {
			// A client that does not read its replies loses its
			// connection; closing wakes the reader.
			c.broken = true
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.s.connStats.writeTimeouts.Add(1)
				c.s.log.Debug("connection closed: reply not read", "client", c.remote.String(), "write_timeout", c.s.opts.WriteTimeout)
			}
			c.nc.Close()
		}
	}
}

// writeSpan writes heads, then span's bytes from its cache file
// (sendfile, with its own offset: the descriptor's is never moved), as
// one stream: the heads go with MSG_MORE, so the kernel sends them with
// the payload's first segment rather than alone. A file that ends
// before the span (it cannot, short of someone truncating the cache
// behind the proxy's back) breaks the connection: the record is short.
// The callback's state lives in the conn (sw), so a reply allocates
// nothing here.
func (c *conn) writeSpan(heads [][]byte, span *cache.Span) error {
	sw := &c.sw
	sw.iovs = sw.back[:0]
	for _, h := range heads {
		if len(h) > 0 {
			sw.iovs = append(sw.iovs, unix.Iovec{Base: &h[0], Len: uint64(len(h))})
		}
	}
	sw.back = sw.iovs[:0] // spanStep consumes iovs; its backing stays
	sw.fd, sw.off, sw.left, sw.err = span.FD, span.Off, span.N, nil
	err := c.raw.Write(c.swStep)
	clear(sw.back[:cap(sw.back)]) // no pointers into replies kept
	if err != nil {
		return err
	}
	return sw.err
}

// spanWrite is writeSpan's progress: head bytes not yet sent (iovs),
// then the span's bytes from fd.
type spanWrite struct {
	back []unix.Iovec
	iovs []unix.Iovec
	fd   int
	off  int64
	left int
	err  error
}

// spanStep sends what it can of c.sw; false means "wait until the socket
// is writable, then call again" (syscall.RawConn.Write).
func (c *conn) spanStep(fd uintptr) bool {
	sw := &c.sw
	for len(sw.iovs) > 0 || sw.left > 0 {
		heads := len(sw.iovs) > 0
		var n int
		var e error
		if heads {
			n, e = sendmsgMore(int(fd), sw.iovs)
		} else if n, e = unix.Sendfile(int(fd), sw.fd, &sw.off, sw.left); e == nil && n == 0 {
			e = io.ErrUnexpectedEOF // the file ends before the span
		}
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
			continue
		case e != nil:
			sw.err = e
			return true
		case !heads:
			sw.left -= n
			continue
		}
		for n > 0 { // drop what was sent from the heads
			iv := &sw.iovs[0]
			if k := min(uint64(n), iv.Len); k < iv.Len {
				iv.Base = (*byte)(unsafe.Add(unsafe.Pointer(iv.Base), k))
				iv.Len -= k
				n = 0
			} else {
				n -= int(k)
				sw.iovs = sw.iovs[1:]
			}
		}
	}
	return true
}

// sendmsgMore is sendmsg(2) of iovs with MSG_MORE (more follows: hold
// a partial segment) and MSG_NOSIGNAL, on iovecs the caller keeps.
func sendmsgMore(fd int, iovs []unix.Iovec) (int, error) {
	var msg unix.Msghdr
	msg.Iov = &iovs[0]
	msg.SetIovlen(len(iovs))
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_MORE|unix.MSG_NOSIGNAL)
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// dispatch decodes the call header, runs the procedure and leaves the reply
// in w (and in *span, a READ payload sent from the cache file). It returns
// false when no reply is to be sent.
func (c *conn) dispatch(rec []byte, w *xdr.Writer, span *cache.Span) (reply bool) {
	var r xdr.Reader
	r.Reset(rec)
	var h rpc.CallHeader
	if err := rpc.DecodeCall(&r, &h); err != nil {
		// Not a call, or a header too short to answer: drop it.
		c.s.stats.garbage.Add(1)
		c.s.reject(reasonCallHeader, 0, 0, c.remote)
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

	// The request runs under the connection's context (the server's for
	// non-idempotent ones, see conn.ctx); RequestTimeout bounds
	// each upstream call (request.call), so a request answered from the
	// caches sets up no timer.
	ctx := c.ctx
	if ctx == nil {
		ctx = c.s.ctx // a conn built without newConn (in tests) has none
	}
	if nonIdempotent(h.Prog, h.Proc) {
		ctx = c.s.ctx
		start := c.s.clock.Now()
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
		sent = c.run(ctx, &h, handler, &r, w, mark, nil)
		return sent
	}
	return c.run(ctx, &h, handler, &r, w, mark, span)
}

// run executes handler and leaves the reply in w (from mark on).
func (c *conn) run(ctx context.Context, h *rpc.CallHeader, handler func(*request, *xdr.Reader, *xdr.Writer) error, r *xdr.Reader, w *xdr.Writer, mark int, span *cache.Span) bool {
	// The reader and the writer move into the request (on the heap
	// anyway), so the caller's stay on its stack.
	rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
	body := w.Len()
	req := &request{ctx: ctx, s: c.s, c: c, xid: h.XID, prog: h.Prog, proc: h.Proc, cred: h.Cred, r: *r, w: *w,
		spanOK: span != nil && c.raw != nil}
	start := time.Now()
	err := handler(req, &req.r, &req.w)
	*w = req.w
	ok := req.finish(w, mark, body, time.Since(start), err)
	if req.span.N > 0 {
		if ok && err == nil && span != nil {
			*span = req.span // the writer sends and releases it
		} else {
			req.span.Release() // the reply is not the one that carried it
		}
	}
	return ok
}
