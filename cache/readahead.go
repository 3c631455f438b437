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
// all prefetch slots are busy. The goroutine is owned by the Store (Close
// waits for it) and runs under o's readahead context, which invalidation,
// culling and Close cancel.
func (s *Store) prefetch(o *object, coh Coherency, g int64, fetch Fetcher, isReadahead bool) bool {
	select {
	case s.raSem <- struct{}{}:
	default:
		return false
	}
	o.mu.Lock()
	if !o.dead && o.raCtx == nil {
		o.raCtx, o.raCancel = context.WithCancel(s.ctx)
	}
	ctx := o.raCtx
	dead := o.dead
	o.mu.Unlock()
	if dead {
		<-s.raSem
		return false
	}
	s.retain(o)
	s.wg.Add(1)
	go s.prefetchOne(ctx, o, coh, g, fetch, isReadahead)
	return true
}

func (s *Store) prefetchOne(ctx context.Context, o *object, coh Coherency, g int64, fetch Fetcher, isReadahead bool) {
	defer s.wg.Done()
	defer func() { <-s.raSem }()
	defer s.release(o)
	fl, leader, _ := s.joinFlight(o, coh, g)
	if fl == nil {
		return
	}
	if leader {
		if isReadahead {
			s.ctr.readaheads.Add(1)
		}
		s.lead(ctx, o, fl, g, granuleLen(coh.Size, g, s.shift), fetch, false)
	}
	fl.release(s)
}
