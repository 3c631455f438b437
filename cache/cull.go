package cache

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
)

// Culling, cachefilesd-style but inside the process. The culler wakes on
// a timer, when a store crosses the cull level or is refused, and checks
// free blocks and files (statfs) and the bytes cached against MaxBytes:
// past a cull limit it culls least recently used objects nobody is using
// until every run limit holds again; past a stop limit nothing new is
// stored (reads are still served). Culling moves files to the graveyard
// and never blocks a request: it skips objects in use and holds no lock
// across I/O.

// levels returns the MaxBytes byte limits (0 when there is no cap).
func (s *Store) levels() (run, cull, stop int64) {
	m := s.opts.MaxBytes
	if m == 0 {
		return 0, 0, 0
	}
	return m - m*int64(s.opts.BRun)/100, m - m*int64(s.opts.BCull)/100, m - m*int64(s.opts.BStop)/100
}

// reserve claims n bytes for a granule about to be stored; false means
// do not store it (a stop limit, or the cap).
func (s *Store) reserve(n int64) bool {
	if s.noStore.Load() {
		s.ctr.noSpace.Add(1)
		s.kick(s.cullKick)
		return false
	}
	u := s.used.Add(n)
	if s.opts.MaxBytes == 0 {
		return true
	}
	_, cull, stop := s.levels()
	if u > stop {
		s.used.Add(-n)
		s.ctr.noSpace.Add(1)
		s.kick(s.cullKick)
		return false
	}
	if u > cull {
		s.kick(s.cullKick)
	}
	return true
}

func (s *Store) unreserve(n int64) { s.used.Add(-n) }

// commitSize charges n reserved bytes to entry e.
func (s *Store) commitSize(e *entry, n int64) { e.size.Add(n) }

// addSize changes e's size and the total together.
func (s *Store) addSize(e *entry, delta int64) {
	e.size.Add(delta)
	s.used.Add(delta)
}

// setSize sets e's size, adjusting the total.
func (s *Store) setSize(e *entry, n int64) { s.used.Add(n - e.size.Swap(n)) }

func (s *Store) cullLoop() {
	defer s.wg.Done()
	t := s.opts.Clock.NewTicker(s.opts.CullInterval)
	defer t.Stop()
	s.cullCheck(false)
	// Until the walk has indexed the cache, LRU order and BytesUsed are
	// partial, so nothing is culled; but the stop limits are watched on
	// every tick and kick, so a long walk (millions of objects, a cold
	// disk) cannot fill the disk meanwhile.
	for waiting := true; waiting; {
		select {
		case <-s.ctx.Done():
			return
		case <-s.idx.readyCh:
			waiting = false
		case <-t.Chan():
			s.cullCheck(false)
		case <-s.cullKick:
			s.cullCheck(false)
		}
	}
	for {
		s.cullCheck(true)
		select {
		case <-s.ctx.Done():
			return
		case <-t.Chan():
		case <-s.cullKick:
		}
	}
}

// stopFlag is the statfs stop limit, set from readings that may run
// concurrently (the culler's and a caller's check). Each reading takes a
// sequence number before it calls statfs, and a reading never overwrites
// the flag set by a later one: without that, a culler that read statfs
// just before the disk filled could clear the flag after a newer reading
// set it, and stores would go on below the stop limit.
type stopFlag struct {
	seq atomic.Uint64 // the last reading's number
	v   atomic.Uint64 // number<<1 | stop, of the newest reading stored
}

// begin numbers a reading about to be taken.
func (f *stopFlag) begin() uint64 { return f.seq.Add(1) }

// set records reading n's verdict unless a later reading is already in.
func (f *stopFlag) set(n uint64, stop bool) {
	nv := n << 1
	if stop {
		nv |= 1
	}
	for {
		old := f.v.Load()
		if old>>1 > n || f.v.CompareAndSwap(old, nv) {
			return
		}
	}
}

// Load reports whether the newest reading crossed a stop limit.
func (f *stopFlag) Load() bool { return f.v.Load()&1 != 0 }

// space reads statfs, sets the stop flag and returns the free block and
// file percentages (100 when statfs fails).
func (s *Store) space() (bp, fp int) {
	n := s.noStore.begin()
	bp, fp = 100, 100
	if st, err := s.fs.Statfs(s.root); err != nil {
		s.ioError("statfs", nil, err)
	} else {
		bp, fp = st.freePercents()
	}
	s.noStore.set(n, bp < s.opts.BStop || fp < s.opts.FStop)
	return bp, fp
}

// cullCheck culls when a cull limit is crossed, until every run limit
// holds; with cull false it only updates the stop flag.
func (s *Store) cullCheck(cull bool) {
	o := &s.opts
	bp, fp := s.space()
	run, cullAt, _ := s.levels()
	need := bp < o.BCull || fp < o.FCull || (o.MaxBytes > 0 && s.used.Load() > cullAt)
	if !need || !cull {
		return
	}
	s.cullDown(true, func(i int) bool {
		if i%16 == 15 {
			bp, fp = s.space()
		}
		return bp >= o.BRun && fp >= o.FRun && (o.MaxBytes == 0 || s.used.Load() <= run)
	})
	s.space()
}

// CullTo culls least recently used objects until at most target bytes
// are cached. It waits for the startup walk; objects in use are skipped,
// and if they keep the cache above target it returns ErrCullIncomplete.
func (s *Store) CullTo(target int64) error {
	if !s.enter() {
		return fmt.Errorf("cache: cull to %d: %w", target, ErrClosed)
	}
	defer s.leave()
	select {
	case <-s.idx.readyCh:
	case <-s.ctx.Done():
		return fmt.Errorf("cache: cull to %d: %w", target, ErrClosed)
	}
	if !s.cullDown(false, func(int) bool { return s.used.Load() <= target }) {
		return fmt.Errorf("cache: cull to %d: %d bytes left: %w", target, s.used.Load(), ErrCullIncomplete)
	}
	return nil
}

// cullDown culls in LRU order until done(culled so far) holds, and
// reports whether it does. Objects in use are skipped. With strict, a
// skipped object also stops the pass: the automatic culler never jumps
// over an older object that is busy (being read or stored) to cull a more
// recently used one — it comes back on the next kick, when the busy one is
// idle — so a hot object is not culled in place of a cold one that happens
// to be in use. CullTo (an operator's explicit target) is not strict.
//
// It works in batches of the oldest cullBatch entries, each found by one
// scan of the index (index.oldest), resuming after the last one seen: a
// pass over a million objects neither copies nor sorts the index, and
// requests wait at most for one shard's scan. A pass makes at most enough
// scans to cover the index twice over: an object in use that is touched
// again and again moves ahead of the resume point each time, and must not
// keep a pass going for ever.
func (s *Store) cullDown(strict bool, done func(i int) bool) bool {
	if done(-1) {
		return true
	}
	i := 0
	var after *candidate
	n := s.cullBatch()
	for scans := 2*(s.idx.count.Load()/int64(n)) + 2; scans > 0; scans-- {
		batch := s.idx.oldest(n, after)
		if s.scanHook != nil {
			s.scanHook()
		}
		if len(batch) == 0 {
			return done(-1)
		}
		for _, c := range batch {
			if s.ctx.Err() != nil {
				return false
			}
			culled, busy := s.cullEntry(c)
			if !culled {
				if strict && busy {
					return done(-1)
				}
				continue
			}
			if done(i) {
				return true
			}
			i++
		}
		after = &batch[len(batch)-1]
	}
	return done(-1)
}

// cullBatch is how many of the oldest entries one scan of the index
// picks: a sixteenth of the index, at least 1024, so freeing a tenth of
// the cache takes two scans, and the batch (40 bytes an entry) stays a
// small fraction of the index it is chosen from.
func (s *Store) cullBatch() int {
	return max(1024, int(s.idx.count.Load()/16))
}

// cullEntry moves one object to the graveyard unless it is in use (busy).
// A busy placeholder keeps the object out of reach while its file moves.
func (s *Store) cullEntry(c candidate) (culled, busy bool) {
	s.mu.Lock()
	v := s.byDir[c.v.dir]
	if v == nil {
		v = s.newVolumeLocked(c.v.dir)
	}
	o := v.objs[c.fh]
	if o != nil && (o.refs > 0 || o.busy != nil || o.state != stLive) {
		s.mu.Unlock()
		return false, true
	}
	if o != nil {
		o.state = stDead
		s.removeLocked(o)
	}
	ph := &object{v: v, fh: c.fh, state: stCulling, busy: make(chan struct{})}
	v.objs[ph.fh] = ph
	s.nopen.Add(1)
	s.mu.Unlock()

	if o != nil {
		o.mu.Lock()
		o.dead = true
		cancel := o.raCancel
		o.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		o.f.Close()
	}
	e := c.e
	culled = s.idx.remove(c.v.dir, c.fh, e)
	if culled {
		path := filepath.Join(v.path, fanoutName([]byte(c.fh)), handleName([]byte(c.fh)))
		if err := s.bury(path); err != nil && !isNotExist(err) {
			s.ioError("cull", nil, err)
			s.fs.Remove(path)
		}
		if err := s.fs.Remove(path + sidecarSuffix); err != nil && !isNotExist(err) {
			s.ioError("cull", nil, err)
		}
		s.used.Add(-e.size.Swap(0))
		s.ctr.culls.Add(1)
	}
	s.mu.Lock()
	s.removeLocked(ph)
	close(ph.busy)
	ph.busy = nil
	s.mu.Unlock()
	return culled, false
}
