package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Run mounts the target, sets up the data sets of the selected workloads
// (unless SkipSetup), then runs each workload in turn and returns one
// Result per workload. On error it returns the results so far with it.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	wls, _ := Find(o.Workloads)
	rep := &Report{Label: o.Label, Target: o.Target, Params: o.Params}
	s, err := dial(ctx, &o)
	if err != nil {
		return rep, fmt.Errorf("bench: %s: %w", o.Label, err)
	}
	defer s.Close()
	if !o.SkipSetup {
		for _, wl := range wls {
			if wl.Setup == nil {
				continue
			}
			o.progressf("%s: setting up %s…", o.Label, wl.Name)
			start := time.Now()
			if err := wl.Setup(ctx, s); err != nil {
				o.progressDone()
				return rep, fmt.Errorf("bench: %s: set up %s: %w", o.Label, wl.Name, err)
			}
			o.Logger.Debug("setup", "workload", wl.Name, "took", time.Since(start))
		}
		o.progressDone()
	}
	for _, wl := range wls {
		r, err := runWorkload(ctx, s, &o, wl)
		if err != nil {
			return rep, fmt.Errorf("bench: %s: %s: %w", o.Label, wl.Name, err)
		}
		rep.Results = append(rep.Results, *r)
	}
	return rep, nil
}

// runWorkload prepares wl, runs its timed part and cleans up.
func runWorkload(ctx context.Context, s *Session, o *Options, wl Workload) (*Result, error) {
	job, err := wl.Run(ctx, s)
	if err != nil {
		return nil, err
	}
	var before Metrics
	if o.Target.MetricsURL != "" {
		if before, err = Scrape(ctx, o.Target.MetricsURL); err != nil {
			return nil, err
		}
	}
	callsBefore := s.calls()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sh := newShared(rctx, &o.Params, wl.Endless)
	workers := make([]*Worker, o.Params.Concurrency)
	seed := fileKey(wl.Name)
	for i := range workers {
		workers[i] = newWorker(sh, i, len(workers), seed)
	}
	stopProgress := o.startProgress(wl.Name, sh)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := job.Work(rctx, w); err != nil {
				errOnce.Do(func() { firstErr = err })
				sh.stop.Store(true)
				cancel() // calls in flight elsewhere fail fast
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && job.Finish != nil {
		firstErr = job.Finish(rctx)
	}
	elapsed := time.Since(sh.started)
	stopProgress()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	calls := s.calls() - callsBefore

	r := &Result{Workload: wl.Name, Label: o.Label, Calls: calls, Duration: elapsed}
	if o.Target.MetricsURL != "" {
		after, err := Scrape(ctx, o.Target.MetricsURL)
		if err != nil {
			return nil, err
		}
		r.Upstream = upstreamDelta(before, after, o)
	}
	var h histogram
	for _, w := range workers {
		h.merge(&w.hist)
	}
	r.Ops = int64(h.n)
	r.Items = sh.items.Load()
	r.ReadBytes, r.WriteBytes = sh.rbytes.Load(), sh.wbytes.Load()
	r.P50, r.P99, r.Mean, r.Max = h.quantile(0.50), h.quantile(0.99), h.mean(), h.max
	if job.Cleanup != nil {
		if err := job.Cleanup(ctx); err != nil {
			return nil, fmt.Errorf("cleanup: %w", err)
		}
	}
	return r, nil
}

// fallbackCallsMetric counts upstream calls too: the _count of the
// proxy's upstream call latency histogram (package metrics).
const fallbackCallsMetric = "nfscacheproxy_upstream_call_duration_seconds_count"

// upstreamDelta picks the counters out of two scrapes.
func upstreamDelta(before, after Metrics, o *Options) *Upstream {
	d := after.Sub(before)
	u := &Upstream{}
	for _, name := range []string{o.CallsMetric, fallbackCallsMetric} {
		if v, ok := d[name]; ok {
			u.Calls, u.HaveCalls = v, true
			break
		}
	}
	u.ReadBytes, u.HaveReadBytes = d[o.ReadBytesMetric]
	return u
}
