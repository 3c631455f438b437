package proxy

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Partial records: the bytes held by records that have begun to arrive but
// are not complete have one budget across the server
// (Options.PartialRecordBytes). A record buffer grows with the bytes that
// arrive (rpc.ReadFragmentsGrow); each growth, and the buffer a record
// starts with, is charged to the budget by capacity, which is what the
// memory costs. A growth that would take the total beyond the budget first
// closes the connections holding the most, largest first, until it fits;
// when the requester itself holds more than every other, it is the one
// closed. Honest records complete within moments and give their bytes
// back; stalled half-sent ones are what the budget is for, and they hold
// the most. Each connection closed this way is counted under
// reasonPartialBudget.

// errPartialBudget closes a connection whose partial record would take the
// server beyond its budget while it held the most.
var errPartialBudget = errors.New("proxy: partial record budget exhausted")

// partialBudget is the server-wide account of bytes in partial records.
type partialBudget struct {
	limit int64
	// total mirrors the sum of held, readable without mu (the gauge).
	total atomic.Int64

	// mu guards held and conn.partial, conn.partialDropped.
	mu   sync.Mutex
	held map[*conn]struct{} // connections with a record under way
}

func newPartialBudget(limit int64) *partialBudget {
	return &partialBudget{limit: limit, held: make(map[*conn]struct{})}
}

// grow charges delta more bytes to c. It returns the connections to close
// to make room (their bytes are already given back) and false when c
// itself must be closed instead: it holds more than any other.
func (b *partialBudget) grow(c *conn, delta int64) (victims []*conn, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.partialDropped {
		return nil, false
	}
	for b.total.Load()+delta > b.limit {
		var largest *conn
		for o := range b.held {
			if o != c && (largest == nil || o.partial > largest.partial) {
				largest = o
			}
		}
		if largest == nil || c.partial > largest.partial {
			b.dropLocked(c)
			return victims, false
		}
		b.dropLocked(largest)
		victims = append(victims, largest)
	}
	b.held[c] = struct{}{}
	c.partial += delta
	b.total.Add(delta)
	return victims, true
}

// dropLocked takes c out of the account; its later grows fail and its
// release does nothing.
func (b *partialBudget) dropLocked(c *conn) {
	b.total.Add(-c.partial)
	c.partial = 0
	c.partialDropped = true
	delete(b.held, c)
}

// release gives back what c holds: its record is complete or abandoned.
func (b *partialBudget) release(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.held[c]; !ok {
		return
	}
	b.total.Add(-c.partial)
	c.partial = 0
	delete(b.held, c)
}

// chargeRecord charges c's record buffer growing from capacity old to new,
// closing the connections the budget picks (counted and logged as
// rejections). It returns errPartialBudget when c is the one to close.
func (c *conn) chargeRecord(old, new int) error {
	b := c.s.partial
	victims, ok := b.grow(c, int64(new-old))
	for _, v := range victims {
		c.s.reject(reasonPartialBudget, 0, 0, v.remote, "partial_record_bytes", b.limit)
		v.nc.Close()
	}
	if !ok {
		c.s.reject(reasonPartialBudget, 0, 0, c.remote, "partial_record_bytes", b.limit)
		return errPartialBudget
	}
	return nil
}
