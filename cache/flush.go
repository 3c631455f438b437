package cache

import (
	"sync"
	"time"
)

// flushQueue feeds the flusher goroutine: objects whose records are dirty
// (each holding a reference taken by markDirty) and evicted objects to
// write out and close. One goroutine writes every record, so records of
// one object are never written concurrently and requests never wait for
// a record write.
type flushQueue struct {
	sig   chan struct{}
	hurry chan struct{} // ends the gathering window early
	// full is the queue length that ends the window: every queued
	// object holds a descriptor open, so a burst of new objects (a tree
	// of small files read for the first time) must not gather past the
	// bound on open objects.
	full int

	// mu guards items and busy.
	mu    sync.Mutex
	items []flushItem
	busy  bool // the flusher is working on items it took
}

type flushItem struct {
	o     *object
	close bool
}

func (q *flushQueue) init(full int) {
	q.full = full
	q.sig = make(chan struct{}, 1)
	q.hurry = make(chan struct{}, 1)
}

func (q *flushQueue) push(o *object, close bool) {
	q.mu.Lock()
	q.items = append(q.items, flushItem{o, close})
	full := len(q.items) >= q.full
	q.mu.Unlock()
	signal(q.sig)
	if close || full {
		signal(q.hurry) // descriptors wait to be closed
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (q *flushQueue) take() []flushItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	q.busy = len(items) > 0 // until a take finds nothing left
	return items
}

// flushLoop is the flusher. Woken by a push, it lets Options.FlushDelay
// pass (or an eviction hurry it) so records gather, then writes what is
// queued. It drains the queue once more when stopped.
func (s *Store) flushLoop() {
	defer s.wg.Done()
	var scratch []byte
	var window *time.Timer
	if d := s.opts.FlushDelay; d > 0 {
		window = time.NewTimer(d)
		window.Stop()
		defer window.Stop()
	}
	for {
		select {
		case <-s.ctx.Done():
			s.flushPending(&scratch)
			return
		case <-s.flush.sig:
		}
		if window != nil {
			window.Reset(s.opts.FlushDelay)
			select {
			case <-s.ctx.Done():
				s.flushPending(&scratch)
				return
			case <-window.C:
			case <-s.flush.hurry:
				window.Stop()
			}
			// One batch: what is pushed while it is written waits for
			// the next window.
			s.flushBatch(&scratch)
			continue
		}
		s.flushPending(&scratch)
	}
}

// flushBatch writes out the items queued now, once.
func (s *Store) flushBatch(scratch *[]byte) {
	s.flushItems(s.flush.take(), scratch)
	s.flush.mu.Lock()
	s.flush.busy = false
	s.flush.mu.Unlock()
}

func (s *Store) flushPending(scratch *[]byte) {
	for {
		items := s.flush.take()
		if len(items) == 0 {
			return
		}
		s.flushItems(items, scratch)
	}
}

func (s *Store) flushItems(items []flushItem, scratch *[]byte) {
	for _, it := range items {
		o := it.o
		if it.close {
			*scratch = s.closeObject(o, *scratch)
			s.finishClose(o)
			continue
		}
		o.mu.Lock()
		o.queued = false
		o.mu.Unlock()
		*scratch = s.persist(o, *scratch)
		s.release(o)
	}
}

// closeObject writes out an object nobody uses (evicted, or at Close):
// its record if dirty, its last use as the file's atime (what the
// startup walk reads back), then closes its file.
func (s *Store) closeObject(o *object, scratch []byte) []byte {
	scratch = s.persist(o, scratch)
	o.mu.Lock()
	cancel := o.raCancel
	o.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if o.ent != nil {
		o.f.SetAtime(o.ent.lastUse.Load())
	}
	o.f.Close()
	return scratch
}

// closeAllObjects is Close's last step, after every goroutine stopped:
// it drains the flush queue and writes out and closes every object.
func (s *Store) closeAllObjects() {
	var scratch []byte
	s.flushPending(&scratch)
	s.mu.Lock()
	var all []*object
	for _, v := range s.byDir {
		for _, o := range v.objs {
			if o.state == stLive {
				all = append(all, o)
			}
		}
		v.objs = make(map[string]*object)
	}
	s.idle = idleList{}
	s.nopen.Store(0)
	s.mu.Unlock()
	for _, o := range all {
		scratch = s.closeObject(o, scratch)
	}
}
