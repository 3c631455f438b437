package proxy

import (
	"container/list"
	"context"
	"hash/crc32"
	"net/netip"
	"sync"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// The duplicate-request cache answers a client's retransmission of a
// non-idempotent call (CREATE, REMOVE, RENAME, ...) with the reply the
// original got, instead of running it again: a retried REMOVE must not turn
// into NOENT, nor a retried exclusive CREATE into EXIST. Entries are keyed by
// client address (not port: a client reconnects from another port), xid,
// procedure and a checksum of the arguments, bounded in number and age.

// drcTTL is how long a reply is kept for retransmissions: well past a
// client's retransmission timeout (the Linux default timeo is 60s).
const drcTTL = 2 * time.Minute

// nonIdempotent reports whether proc's retransmission must not run again.
func nonIdempotent(prog, proc uint32) bool {
	if prog != nfsProgram {
		return false
	}
	switch proc {
	case nfs3.ProcSetattr, nfs3.ProcCreate, nfs3.ProcMkdir, nfs3.ProcSymlink, nfs3.ProcMknod,
		nfs3.ProcRemove, nfs3.ProcRmdir, nfs3.ProcRename, nfs3.ProcLink:
		return true
	}
	return false
}

type drcKey struct {
	client netip.Addr
	xid    uint32
	proc   uint32
	sum    uint32
}

type drcEntry struct {
	key   drcKey
	done  chan struct{} // closed once reply is set
	reply []byte        // the RPC reply without record mark; nil if none was sent
	at    time.Time
}

type drc struct {
	max int
	ttl time.Duration

	// mu guards m and lru (front = newest).
	mu  sync.Mutex
	m   map[drcKey]*list.Element
	lru list.List
}

func newDRC(max int, ttl time.Duration) *drc {
	return &drc{max: max, ttl: ttl, m: make(map[drcKey]*list.Element)}
}

func makeDRCKey(client netip.Addr, xid, proc uint32, args []byte) drcKey {
	return drcKey{client: client, xid: xid, proc: proc, sum: crc32.Checksum(args, crc32.MakeTable(crc32.Castagnoli))}
}

// begin looks k up. A new key is entered as in progress and returned with
// owner=true: the caller runs the call and must finish it. Otherwise the
// existing entry is returned.
//
// now is the server's clock; an entry older than d.ttl is a new call.
func (d *drc) begin(k drcKey, now time.Time) (e *drcEntry, owner bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.m[k]; ok {
		e := el.Value.(*drcEntry)
		finishedEmpty := false
		select {
		case <-e.done:
			finishedEmpty = e.reply == nil // the original sent nothing (a panic, a dropped reply): run it again
		default:
		}
		if now.Sub(e.at) < d.ttl && !finishedEmpty {
			return e, false
		}
		d.lru.Remove(el)
		delete(d.m, k)
	}
	e = &drcEntry{key: k, done: make(chan struct{}), at: now}
	d.m[k] = d.lru.PushFront(e)
	for d.lru.Len() > d.max {
		old := d.lru.Back()
		oe := old.Value.(*drcEntry)
		select {
		case <-oe.done:
		default:
			// The oldest is still running; keep it, the bound is soft
			// by the number of calls in flight.
			return e, true
		}
		d.lru.Remove(old)
		delete(d.m, oe.key)
	}
	return e, true
}

// finish records the reply (copied) and wakes waiters.
func (d *drc) finish(e *drcEntry, reply []byte) {
	if reply != nil {
		e.reply = append([]byte(nil), reply...)
	}
	close(e.done)
}

// wait waits for e's original to finish and returns its reply.
func (e *drcEntry) wait(ctx context.Context) ([]byte, bool) {
	select {
	case <-e.done:
		return e.reply, e.reply != nil
	case <-ctx.Done():
		return nil, false
	}
}
