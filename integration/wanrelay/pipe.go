package wanrelay

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// bufPool holds maxChunk-byte read buffers.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, maxChunk)
	return &b
}}

// chunk is data (or an end of stream) in flight on a link.
type chunk struct {
	buf *[]byte   // from bufPool; nil for eof
	n   int       // bytes of buf in use
	due time.Time // when it arrives at the far end
	eof bool      // end of stream: shut the destination's write half
}

// pipe is one direction of a session: readLoop stamps chunks into q,
// writeLoop delivers them when due.
type pipe struct {
	s         *session
	name      string
	src, dst  *net.TCPConn
	q         *queue
	delivered *atomic.Int64

	// linkFree is when the link finishes sending what was read so far.
	// Only readLoop touches it.
	linkFree time.Time
}

// schedule returns the arrival time of n bytes read now, and books the link
// for their serialisation time under a rate cap.
func (p *pipe) schedule(n int) time.Time {
	start := time.Now()
	if p.linkFree.After(start) {
		start = p.linkFree
	}
	if rate := p.s.r.opts.Rate; rate > 0 {
		start = start.Add(time.Duration(int64(n) * int64(time.Second) / rate))
	}
	p.linkFree = start
	return start.Add(time.Duration(p.s.r.delay.Load()))
}

func (p *pipe) readLoop() {
	size := p.s.r.chunkSize
	for {
		if !p.q.waitRoom(int64(size)) {
			return
		}
		buf := bufPool.Get().(*[]byte)
		n, err := p.src.Read((*buf)[:size])
		if n > 0 {
			if !p.q.push(chunk{buf: buf, n: n, due: p.schedule(n)}) {
				bufPool.Put(buf)
				return
			}
		} else {
			bufPool.Put(buf)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.q.push(chunk{eof: true, due: p.schedule(0)})
			return
		default:
			if !p.s.isAborted() {
				p.s.log.Debug("wanrelay: read", "dir", p.name, "err", err)
			}
			p.s.abort()
			return
		}
	}
}

func (p *pipe) writeLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		c, ok := p.q.pop()
		if !ok {
			return
		}
		if d := time.Until(c.due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.s.done:
				return
			}
		}
		if c.eof {
			if err := p.dst.CloseWrite(); err != nil {
				if !p.s.isAborted() {
					p.s.log.Debug("wanrelay: close write", "dir", p.name, "err", err)
				}
				p.s.abort()
			}
			return
		}
		_, err := p.dst.Write((*c.buf)[:c.n])
		p.q.release(c.n)
		bufPool.Put(c.buf)
		if err != nil {
			if !p.s.isAborted() {
				p.s.log.Debug("wanrelay: write", "dir", p.name, "err", err)
			}
			p.s.abort()
			return
		}
		p.delivered.Add(int64(c.n))
	}
}

// queue is a FIFO of chunks bounded in bytes, between one reader and one
// writer goroutine.
type queue struct {
	max      int64
	buffered *atomic.Int64 // relay-wide gauge, kept equal to the sum of bytes

	// mu guards the fields below; cond (on mu) is broadcast on push,
	// release and close.
	mu     sync.Mutex
	cond   sync.Cond
	items  []chunk
	head   int   // items[head:] are queued
	bytes  int64 // pushed and not yet released: queued or being written
	closed bool
}

func newQueue(max int64, buffered *atomic.Int64) *queue {
	q := &queue{max: max, buffered: buffered}
	q.cond.L = &q.mu
	return q
}

// waitRoom blocks until n more bytes fit (or nothing is buffered) and
// reports false if the queue was closed.
func (q *queue) waitRoom(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.bytes > 0 && q.bytes+n > q.max {
		q.cond.Wait()
	}
	return !q.closed
}

// push appends c and reports false if the queue was closed.
func (q *queue) push(c chunk) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if q.head > 0 && len(q.items) == cap(q.items) {
		// Reuse the consumed prefix instead of growing a queue that
		// never drains.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, c)
	q.bytes += int64(c.n)
	q.buffered.Add(int64(c.n))
	q.cond.Broadcast()
	return true
}

// pop removes the oldest chunk, blocking while the queue is empty; it
// reports false once the queue is closed. The chunk's bytes stay counted
// until release.
func (q *queue) pop() (chunk, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.head == len(q.items) {
		q.cond.Wait()
	}
	if q.closed {
		return chunk{}, false
	}
	c := q.items[q.head]
	q.items[q.head] = chunk{}
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return c, true
}

// release uncounts n delivered bytes, making room for the reader.
func (q *queue) release(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.bytes -= int64(n)
	q.buffered.Add(-int64(n))
	q.cond.Broadcast()
}

// close drops everything buffered and wakes both goroutines.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.buffered.Add(-q.bytes)
	q.bytes = 0
	q.items = nil
	q.head = 0
	q.cond.Broadcast()
}
