package upstream

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// maxReply bounds an upstream reply record: the largest READ we ask for plus
// generous headroom for headers and attributes.
const maxReply = 8 << 20

// preallocReply is how much of a reply's announced length is allocated
// before its bytes arrive: a 1 MiB READ reply with its header, so the cold
// path reads each reply into one buffer with no regrowth copies (about a
// tenth of the proxy's CPU on a cold sequential read). What an upstream
// can make the proxy hold with marks alone is this much per connection.
const preallocReply = 1<<20 + 4096

// pending is one call waiting for its reply.
type pending struct {
	done  chan struct{}
	reply []byte // the whole record, owned by the waiter once done is closed
	err   error
}

// conn is one TCP connection carrying many calls, matched by XID.
//
// Lock order: writeMu before mu. Neither is held across a read.
type conn struct {
	nc     net.Conn
	client *Client

	writeMu sync.Mutex // serialises whole records onto nc

	// mu guards calls and broken.
	mu     sync.Mutex
	calls  map[uint32]*pending
	broken error

	inflight  atomic.Int64
	lastReply atomic.Int64 // client clock, unix ns: the last reply (or the dial)
	readDone  chan struct{}
}

func newConn(nc net.Conn, c *Client) *conn {
	cn := &conn{nc: nc, client: c, calls: make(map[uint32]*pending), readDone: make(chan struct{})}
	cn.lastReply.Store(c.opts.Clock.Now().UnixNano())
	go cn.readLoop()
	return cn
}

// readLoop owns the read side. It ends when the connection breaks or is
// closed, failing every call still waiting.
func (cn *conn) readLoop() {
	defer close(cn.readDone)
	br := bufio.NewReaderSize(cn.nc, 64<<10)
	var r xdr.Reader
	for {
		rec, err := rpc.ReadRecordSized(br, maxReply, preallocReply)
		if err != nil {
			if !cn.isBroken() { // not closed or broken on purpose
				cn.client.markDown("connection lost: " + err.Error())
			}
			cn.fail(fmt.Errorf("%w: %w", ErrConnLost, err))
			return
		}
		cn.lastReply.Store(cn.client.opts.Clock.Now().UnixNano())
		cn.client.markUp()
		r.Reset(rec)
		xid := r.Uint32()
		if r.Err() != nil {
			continue // a record too short to name its call: ignore it
		}
		cn.mu.Lock()
		p := cn.calls[xid]
		delete(cn.calls, xid)
		cn.mu.Unlock()
		if p == nil {
			continue // abandoned call, or a reply we never asked for
		}
		p.reply = rec
		close(p.done)
	}
}

// fail marks the connection broken and wakes every waiter.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	if cn.broken == nil {
		cn.broken = err
	}
	calls := cn.calls
	cn.calls = make(map[uint32]*pending)
	cn.mu.Unlock()
	for _, p := range calls {
		p.err = err
		close(p.done)
	}
	cn.nc.Close()
}

func (cn *conn) isBroken() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.broken != nil
}

// close tears the connection down and waits for its reader.
func (cn *conn) close() {
	cn.fail(ErrClosed)
	<-cn.readDone
}

// roundTrip sends msg (a record whose first 4 bytes are reserved for the
// record mark and whose next 4 are the xid) and waits for the reply. The
// returned error wraps ErrNotSent when nothing reached the wire.
func (cn *conn) roundTrip(ctx context.Context, xid uint32, msg []byte, deadline time.Time) ([]byte, error) {
	p := &pending{done: make(chan struct{})}
	cn.mu.Lock()
	if cn.broken != nil {
		err := cn.broken
		cn.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	cn.calls[xid] = p
	cn.mu.Unlock()
	cn.inflight.Add(1)
	defer cn.inflight.Add(-1)

	rpc.SetRecordHeader(msg)
	cn.writeMu.Lock()
	cn.nc.SetWriteDeadline(deadline)
	n, err := cn.nc.Write(msg)
	cn.writeMu.Unlock()
	if err != nil {
		cn.forget(xid)
		if n == 0 {
			err = fmt.Errorf("%w: %w", ErrNotSent, err)
		} else {
			err = fmt.Errorf("%w: write: %w", ErrConnLost, err)
		}
		cn.fail(err)
		return nil, err
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-p.done:
		return p.reply, p.err
	case <-ctx.Done():
		cn.forget(xid)
		return nil, ctx.Err()
	case <-timer.C:
		cn.forget(xid)
		return nil, fmt.Errorf("upstream: call xid %#x: %w", xid, context.DeadlineExceeded)
	}
}

func (cn *conn) forget(xid uint32) {
	cn.mu.Lock()
	delete(cn.calls, xid)
	cn.mu.Unlock()
}
