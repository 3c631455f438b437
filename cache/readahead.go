package cache

import (
	"context"

	"github.com/nfscacheproxy/nfscacheproxy/internal/version"
)

// minReadahead is the window a newly detected stream starts with.
const minReadahead = 4

// readahead watches the reads of o, before each is served, for a
// sequential stream and keeps granules in flight ahead of it.
//
// A stream: clients keep several READs of one file in flight and they
// arrive out of order, so a read counts as sequential when it starts
// within a few reads' length of the furthest end read so far (raNext),
// and a stream is detected at a read from 0 or at the second sequential
// read in a row. Any other read is random access: the stream and its
// window are forgotten and nothing more is issued (fetches already in
// flight finish and are stored; they are bounded by the prefetch slots).
//
// The window starts at minReadahead granules and doubles each time it
// is issued in full, up to Options.Readahead, while the upstream keeps
// up; when the prefetch slots are all busy (the upstream does not keep
// up, or too many streams) it halves. Readahead flights are ordinary
// flights, so a foreground read of such a granule joins the fetch
// instead of repeating it.
func (s *Store) readahead(o *object, coh Coherency, off int64, n int, fetch Fetcher) {
	ra := s.opts.Readahead
	if ra <= 0 || n <= 0 {
		return
	}
	end := off + int64(n)
	lastRead := (end - 1) >> s.shift
	slack := 4*int64(n) + int64(s.gsize)
	var want [maxReadahead]int64
	k := 0
	o.mu.Lock()
	seq := off >= o.raNext-slack && off <= o.raNext+slack
	if !seq || o.dead || !version.Same(o.rec.coh, coh) {
		o.raNext, o.raMax, o.raWin, o.raStreak = end, -1, 0, 0
		o.mu.Unlock()
		return
	}
	o.raNext = max(o.raNext, end)
	if o.raStreak < 2 {
		o.raStreak++
	}
	if off != 0 && o.raStreak < 2 {
		o.mu.Unlock()
		return
	}
	if o.raWin == 0 {
		o.raWin = min(minReadahead, ra)
	}
	to := min(lastRead+int64(o.raWin), granuleCount(coh.Size, s.shift)-1)
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
			// Out of slots: shrink, and look at these again next time.
			o.mu.Lock()
			o.raMax = min(o.raMax, want[i]-1)
			o.raWin = max(minReadahead, o.raWin/2)
			o.mu.Unlock()
			return
		}
	}
	if k > 0 && want[k-1] == to {
		o.mu.Lock()
		if o.raWin > 0 {
			o.raWin = min(2*o.raWin, ra) // issued in full: go deeper
		}
		o.mu.Unlock()
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
