package cache

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"

	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// flight is one upstream fetch of one granule. Every reader of the
// granule that arrives while it is in o.flights joins it instead of
// fetching again; it stays there until the fetched bytes are stored (or
// refused), so readers arriving meanwhile copy from buf. refs counts the
// map's reference and each reader's; the last release recycles buf.
type flight struct {
	done chan struct{} // closed when buf, n and err are set
	coh  Coherency     // the version fetched
	gen  uint64        // o.gen when the fetch started
	buf  *[]byte
	n    int
	err  error
	refs atomic.Int32
}

func (fl *flight) release(s *Store) {
	if fl.refs.Add(-1) == 0 && fl.buf != nil {
		s.putBuf(fl.buf)
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fill copies bytes [in, in+len(dst)) of granule g into dst from the
// upstream, through the granule's single flight, and stores the granule.
// It returns fewer bytes than len(dst) only where the upstream ended;
// cached says the bytes came from the cache after all.
func (s *Store) fill(ctx context.Context, o *object, coh Coherency, g int64, gLen, in int, dst []byte, fetch Fetcher) (n int, cached bool, err error) {
	for attempt := 0; ; attempt++ {
		fl, leader, present := s.joinFlight(o, coh, g)
		if present && attempt < 2 {
			// Stored since we looked: re-check inside the flight.
			if s.readCached(o, coh, g, gLen, in, dst) {
				return len(dst), true, nil
			}
			continue
		}
		if fl == nil {
			n, err = s.fetchDirect(ctx, g, gLen, in, dst, fetch)
			return n, false, err
		}
		if leader && len(dst) <= gLen/2 && s.leadBehind(o, fl, g, gLen, fetch) {
			// A small part of a missing granule (a random read): the
			// granule fills in the background and this reader waits
			// only for its own bytes, fetched alongside.
			n, err = s.fetchRange(ctx, g, in, dst, fetch)
			return n, false, err
		}
		if leader {
			s.lead(ctx, o, fl, g, gLen, fetch, false)
		} else {
			s.ctr.flightJoins.Add(1)
			select {
			case <-fl.done:
			case <-ctx.Done():
				fl.release(s)
				return 0, false, ctx.Err()
			}
		}
		if err = fl.err; err != nil && !isChanged(err) {
			fl.release(s)
			if !leader && isCtxErr(err) && ctx.Err() == nil && attempt < 3 {
				continue // the leader gave up, we have not
			}
			return 0, false, err
		}
		// Changed under the fetch: the bytes are the new version's, for
		// every reader of the flight, and were not stored (lead).
		if in < fl.n {
			n = copy(dst, (*fl.buf)[in:fl.n])
		}
		fl.release(s)
		return n, false, err
	}
}

// joinFlight finds or starts the flight for granule g of o at version
// coh. It returns nil (fetch without caching) when o is gone or at
// another version, and present when the granule is cached after all.
// A new flight's leader holds two references: its own and the map's.
func (s *Store) joinFlight(o *object, coh Coherency, g int64) (fl *flight, leader, present bool) {
	if o == nil {
		return nil, false, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead || !version.Same(o.rec.coh, coh) {
		return nil, false, false
	}
	if o.rec.cmap.has(g) {
		return nil, false, true
	}
	gen := o.gen.Load()
	if fl = o.flights[g]; fl != nil && fl.gen == gen && version.Same(fl.coh, coh) {
		fl.refs.Add(1)
		return fl, false, false
	}
	// A flight from before a write (older gen) must not serve this
	// version: start a new one in its place; the old one still finishes
	// for its readers and then stores nothing.
	fl = &flight{done: make(chan struct{}), coh: coh, gen: gen}
	fl.refs.Store(2)
	if o.flights == nil {
		o.flights = make(map[int64]*flight)
	}
	o.flights[g] = fl
	return fl, true, false
}

// lead fetches granule g for fl, wakes the flight's readers and stores
// the granule: in the background (bounded) when inline is false, else
// before returning. A granule the upstream ended early is not stored.
func (s *Store) lead(ctx context.Context, o *object, fl *flight, g int64, gLen int, fetch Fetcher, inline bool) {
	buf := s.getBuf()
	n, err := s.fetchGranule(ctx, fetch, (*buf)[:gLen], g<<s.shift)
	fl.buf, fl.n, fl.err = buf, n, err
	close(fl.done)
	if err != nil || n != gLen || !s.reserve(int64(gLen)) {
		s.endFlight(o, fl, g)
		return
	}
	if !inline {
		select {
		case s.storeSem <- struct{}{}:
			s.retain(o)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.store(o, fl, g, gLen)
				<-s.storeSem
				s.release(o)
			}()
			return
		default:
		}
	}
	s.store(o, fl, g, gLen)
}

// leadBehind hands the lead of fl (a flight this reader just started)
// to a background goroutine owned by the Store, so that a reader wanting
// only part of the granule need not wait for all of it. It reports
// false, leaving the lead with the caller, when every prefetch slot is
// busy or o is being dropped.
func (s *Store) leadBehind(o *object, fl *flight, g int64, gLen int, fetch Fetcher) bool {
	select {
	case s.raSem <- struct{}{}:
	default:
		return false
	}
	ctx := o.readaheadCtx(s)
	if ctx == nil {
		<-s.raSem
		return false
	}
	s.goLead(ctx, o, fl, g, gLen, fetch)
	return true
}

// fetchRange fetches bytes [in, in+len(dst)) of granule g straight into
// dst, uncached (the granule's flight caches it).
func (s *Store) fetchRange(ctx context.Context, g int64, in int, dst []byte, fetch Fetcher) (int, error) {
	return s.fetchGranule(ctx, fetch, dst, g<<s.shift+int64(in))
}

// endFlight takes fl out of o's map and drops the map's reference.
func (s *Store) endFlight(o *object, fl *flight, g int64) {
	o.mu.Lock()
	if o.flights[g] == fl {
		delete(o.flights, g)
	}
	o.mu.Unlock()
	fl.release(s)
}

// store writes a fetched granule to the cache file and marks it present
// at once: nobody waits for a disk flush. Its bytes are made durable by
// the flusher, which fdatasyncs the file before it writes a record that
// claims the granule (persist), and drops the granule if that fails. Any
// byte that still does not match its CRC after a crash is a miss. Space
// for it was reserved by the caller.
func (s *Store) store(o *object, fl *flight, g int64, gLen int) {
	// A flight overtaken by a write or invalidation writes nothing: its
	// bytes could land over the newer ones. The check and the write are
	// one step under o.wmu, which every writer of granule data holds.
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	current := o.flights[g] == fl && !o.dead && o.rec.coh == fl.coh && o.gen.Load() == fl.gen
	o.mu.Unlock()
	if !current {
		s.unreserve(int64(gLen))
		s.endFlight(o, fl, g)
		return
	}
	data := (*fl.buf)[:gLen]
	crc := crc32c(data)
	_, err := o.f.WriteAt(data, g<<s.shift)
	o.mu.Lock()
	if o.flights[g] == fl {
		delete(o.flights, g)
	}
	ok := err == nil && !o.dead && o.rec.coh == fl.coh && o.gen.Load() == fl.gen
	if ok {
		o.setUnsyncedLocked(g, crc)
	}
	o.mu.Unlock()
	fl.release(s)
	if !ok {
		s.unreserve(int64(gLen))
		if err != nil {
			s.ioError("store", o, err)
		}
		return
	}
	s.commitSize(o.ent, int64(gLen))
	s.ctr.fills.Add(1)
	s.markDirty(o)
}

// fetchDirect fetches without caching (pass-through).
func (s *Store) fetchDirect(ctx context.Context, g int64, gLen, in int, dst []byte, fetch Fetcher) (int, error) {
	if in == 0 && len(dst) == gLen {
		return s.fetchGranule(ctx, fetch, dst, g<<s.shift)
	}
	buf := s.getBuf()
	b := (*buf)[:gLen]
	n, err := s.fetchGranule(ctx, fetch, b, g<<s.shift)
	k := 0
	if in < n {
		k = copy(dst, b[in:n])
	}
	s.putBuf(buf)
	return k, err
}

// fetchGranule calls fetch until b is full or the upstream ends. A
// change under the first call returns its bytes with the Changed error;
// under a later one, only the bytes before it (of the version asked for),
// without error: the granule ends short there.
func (s *Store) fetchGranule(ctx context.Context, fetch Fetcher, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		s.ctr.fetches.Add(1)
		m, eof, err := fetch.Fetch(ctx, b[n:], off+int64(n))
		m = max(0, min(m, len(b)-n))
		if isChanged(err) {
			s.ctr.changedFetches.Add(1)
			if n > 0 {
				return n, nil
			}
			return m, err
		}
		n += m
		switch {
		case err != nil:
			return n, fmt.Errorf("cache: fetch at %d: %w", off+int64(n), err)
		case eof:
			return n, nil
		case m == 0:
			return n, fmt.Errorf("cache: fetch at %d: %w", off+int64(n), io.ErrNoProgress)
		}
	}
	return n, nil
}
