package cache

import "context"

// readahead watches the reads of o: a read that starts where the last
// one ended (or at 0) is sequential, and then the next Options.Readahead
// granules that are neither cached nor in flight are fetched in the
// background. Their flights are ordinary flights, so a foreground read of
// such a granule joins the fetch instead of repeating it.
func (s *Store) readahead(o *object, coh Coherency, off int64, n int, fetch Fetcher) {
	ra := s.opts.Readahead
	if ra <= 0 || n <= 0 {
		return
	}
	end := off + int64(n)
	lastRead := (end - 1) >> s.shift
	var want [maxReadahead]int64
	k := 0
	o.mu.Lock()
	seq := off == o.raNext
	o.raNext = end
	if !seq || o.dead || o.rec.coh != coh {
		o.raMax = -1
		o.mu.Unlock()
		return
	}
	to := min(lastRead+int64(ra), granuleCount(coh.Size, s.shift)-1)
	for g := max(lastRead+1, o.raMax+1); g <= to; g++ {
		if !o.rec.cmap.has(g) && o.flights[g] == nil {
			want[k] = g
			k++
		}
	}
	o.raMax = max(o.raMax, to)
	o.mu.Unlock()
	for i := 0; i < k; i++ {
		if !s.prefetch(o, coh, want[i], fetch, true) {
			// Out of slots: look at these again on the next read.
			o.mu.Lock()
			o.raMax = min(o.raMax, want[i]-1)
			o.mu.Unlock()
			return
		}
	}
}

// prefetch starts a background fetch-and-store of granule g of o unless
// all prefetch slots are busy (false). The flight is registered before
// prefetch returns, so a reader that arrives next joins it. The
// goroutine is owned by the Store (Close waits for it) and runs under
// o's readahead context, which invalidation, culling and Close cancel.
func (s *Store) prefetch(o *object, coh Coherency, g int64, fetch Fetcher, isReadahead bool) bool {
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
	fl, leader, _ := s.joinFlight(o, coh, g)
	if !leader {
		if fl != nil {
			fl.release(s) // someone else fetches it
		}
		<-s.raSem
		return true
	}
	if isReadahead {
		s.ctr.readaheads.Add(1)
	}
	s.goLead(ctx, o, fl, g, granuleLen(coh.Size, g, s.shift), fetch)
	return true
}

// goLead runs the lead of fl in a goroutine owned by the Store, which
// gives back the prefetch slot the caller took.
func (s *Store) goLead(ctx context.Context, o *object, fl *flight, g int64, gLen int, fetch Fetcher) {
	s.retain(o)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.raSem }()
		defer s.release(o)
		s.lead(ctx, o, fl, g, gLen, fetch, false)
		fl.release(s)
	}()
}

// readaheadCtx returns the context background fetches of o run under
// (cancelled by invalidation, culling and Close), or nil if o is dead.
func (o *object) readaheadCtx(s *Store) context.Context {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead {
		return nil
	}
	if o.raCtx == nil {
		o.raCtx, o.raCancel = context.WithCancel(s.ctx)
	}
	return o.raCtx
}
