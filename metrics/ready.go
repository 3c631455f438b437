package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// readiness runs the readiness checks and keeps the last result.
type readiness struct {
	ctx     context.Context // parent of every check's context
	clock   clockwork.Clock
	timeout time.Duration
	ttl     time.Duration
	wg      sync.WaitGroup // check goroutines
	joins   atomic.Int64   // callers that waited for an evaluation another started
	answers atomic.Int64   // check results evaluate received before its timeout

	// mu guards checks, failures, at and running.
	mu       sync.Mutex
	checks   []namedCheck
	failures []string      // "name: reason" of the last evaluation; empty = ready
	at       time.Time     // when the last evaluation ended; zero = none valid
	running  chan struct{} // non-nil while an evaluation runs; closed when it ends
}

type namedCheck struct {
	name string
	fn   func(context.Context) error
}

func (r *readiness) init(ctx context.Context, clock clockwork.Clock, timeout, ttl time.Duration) {
	r.ctx, r.clock, r.timeout, r.ttl = ctx, clock, timeout, ttl
}

func (r *readiness) add(name string, fn func(context.Context) error) {
	r.mu.Lock()
	r.checks = append(r.checks, namedCheck{name, fn})
	r.at = time.Time{} // a new check invalidates the cached result
	r.mu.Unlock()
}

// result returns the failures of a fresh-enough evaluation, running one
// (shared by concurrent callers) when needed. ok is false when ctx ended
// before a result was available.
func (r *readiness) result(ctx context.Context) (failures []string, ok bool) {
	for {
		r.mu.Lock()
		if !r.at.IsZero() && r.ttl > 0 && r.clock.Since(r.at) < r.ttl {
			f := r.failures
			r.mu.Unlock()
			return f, true
		}
		if wait := r.running; wait != nil {
			r.mu.Unlock()
			r.joins.Add(1)
			select {
			case <-wait:
				r.mu.Lock()
				f := r.failures
				r.mu.Unlock()
				return f, true
			case <-ctx.Done():
				return nil, false
			}
		}
		done := make(chan struct{})
		r.running = done
		checks := r.checks
		r.mu.Unlock()

		f := r.evaluate(checks)

		r.mu.Lock()
		r.failures, r.at, r.running = f, r.clock.Now(), nil
		r.mu.Unlock()
		close(done)
		return f, true
	}
}

// evaluate runs checks concurrently and returns "name: reason" for each
// that failed or did not return within the timeout. Checks that overrun
// keep their goroutine until they return; their context is cancelled.
func (r *readiness) evaluate(checks []namedCheck) []string {
	if len(checks) == 0 {
		return nil
	}
	ctx, cancel := clockwork.WithTimeout(r.ctx, r.clock, r.timeout)
	defer cancel()
	type outcome struct {
		i   int
		err error
	}
	results := make(chan outcome, len(checks)) // buffered: late checks never block
	for i, c := range checks {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() {
				if p := recover(); p != nil {
					results <- outcome{i, fmt.Errorf("panic: %v", p)}
				}
			}()
			results <- outcome{i, c.fn(ctx)}
		}()
	}
	errs := make([]error, len(checks))
	reported := make([]bool, len(checks))
wait:
	for range checks {
		select {
		case o := <-results:
			errs[o.i], reported[o.i] = o.err, true
			r.answers.Add(1)
		case <-ctx.Done():
			break wait
		}
	}
	var failures []string
	for i, c := range checks {
		switch {
		case !reported[i]:
			failures = append(failures, fmt.Sprintf("%s: no answer within %v", c.name, r.timeout))
		case errs[i] != nil:
			failures = append(failures, fmt.Sprintf("%s: %v", c.name, errs[i]))
		}
	}
	return failures
}

func (s *Server) serveReady(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	failures, ok := s.ready.result(req.Context())
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: request ended before the checks did")
		return
	}
	if len(failures) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready:\n%s\n", strings.Join(failures, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}
