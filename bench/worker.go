package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Job is what a workload's Run returns: the timed body and its optional
// timed Finish and untimed Cleanup.
type Job struct {
	// Work is run by every worker at once; it loops on Worker.Next /
	// Worker.Op and records each op with Worker.Done.
	Work func(ctx context.Context, w *Worker) error
	// Finish runs once after every worker has returned, still timed (a
	// COMMIT). Optional.
	Finish func(ctx context.Context) error
	// Cleanup runs after the timed part, untimed. Optional.
	Cleanup func(ctx context.Context) error
}

// shared is the state of one timed run, shared by its workers.
type shared struct {
	ctx      context.Context
	claimed  atomic.Int64 // items handed out by Next
	budget   atomic.Int64 // ops left before MaxOps
	stop     atomic.Bool
	deadline time.Time // zero: none
	started  time.Time

	// Progress counters.
	ops, items, rbytes, wbytes atomic.Int64
}

func newShared(ctx context.Context, p *Params, mixed bool) *shared {
	sh := &shared{ctx: ctx, started: time.Now()}
	sh.budget.Store(math.MaxInt64)
	if p.MaxOps > 0 {
		sh.budget.Store(p.MaxOps)
	}
	d := p.Duration
	if d == 0 && mixed {
		d = DefaultMixedDuration
	}
	if d > 0 {
		sh.deadline = sh.started.Add(d)
	}
	return sh
}

// over reports whether the run must not start anything new.
func (sh *shared) over() bool {
	if sh.stop.Load() || sh.ctx.Err() != nil {
		return true
	}
	if !sh.deadline.IsZero() && !time.Now().Before(sh.deadline) {
		sh.stop.Store(true)
		return true
	}
	return false
}

// Worker is one of the concurrent clients of a timed run. Its methods are
// for the goroutine running it only.
type Worker struct {
	// ID is the worker's index in [0, N).
	ID, N int
	// Rand is seeded from the workload and ID, so every run of the same
	// workload with the same concurrency draws the same numbers (a second
	// pass touches the same data).
	Rand *rand.Rand

	sh   *shared
	hist histogram
}

func newWorker(sh *shared, id, n int, seed uint64) *Worker {
	return &Worker{ID: id, N: n, sh: sh, Rand: rand.New(rand.NewPCG(seed, uint64(id)))}
}

// Next hands out the next of total items shared by all workers (each item
// to one worker, in order). It returns false when the items are exhausted
// or the run is over (duration, an error elsewhere, cancellation). It does
// not count against MaxOps: see Op.
func (w *Worker) Next(total int) (int, bool) {
	if w.sh.over() {
		return 0, false
	}
	i := w.sh.claimed.Add(1) - 1
	if i >= int64(total) {
		return 0, false
	}
	return int(i), true
}

// Op reports whether another op may start, taking it from the MaxOps
// budget.
func (w *Worker) Op() bool {
	if w.sh.over() {
		return false
	}
	if w.sh.budget.Add(-1) < 0 {
		w.sh.stop.Store(true)
		return false
	}
	return true
}

// NextOp is Next and Op: the item that is one op.
func (w *Worker) NextOp(total int) (int, bool) {
	i, ok := w.Next(total)
	if !ok || !w.Op() {
		return 0, false
	}
	return i, true
}

// Done records one op that started at start and moved read and written
// payload bytes.
func (w *Worker) Done(start time.Time, read, written int64) {
	w.hist.record(time.Since(start))
	w.sh.ops.Add(1)
	if read != 0 {
		w.sh.rbytes.Add(read)
	}
	if written != 0 {
		w.sh.wbytes.Add(written)
	}
}

// Items counts directory entries seen (list, walk).
func (w *Worker) Items(n int64) { w.sh.items.Add(n) }
