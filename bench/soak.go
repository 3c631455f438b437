package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
)

// The soak: many clients for a long time against nfs-ganesha with the proxy
// (a child process) in front, while ganesha is restarted and the proxy's
// small cache is culled, watching the proxy's resident memory, goroutines
// and open descriptors. It fails on any wrong byte (during the run or in
// the final check of every file against the upstream's disk) and when the
// goroutines or descriptors of the second half of the run exceed the first
// half's by more than a tolerance (a leak).

// SoakParams sizes a soak. The zero value of every field means its default
// (in parentheses).
type SoakParams struct {
	// Duration is how long the clients run (1m).
	Duration time.Duration `json:"duration_ns"`
	// Clients is the number of concurrent clients, each with its own TCP
	// connection (16).
	Clients int `json:"clients"`
	// Files shared files of FileSize (48 × 1 MiB) are read (and their
	// stamps checked) by every client; they never change.
	Files    int   `json:"files"`
	FileSize int64 `json:"file_size"`
	// OwnSize is the size of each client's own file (1 MiB), rewritten in
	// IOSize pieces and read back.
	OwnSize int64 `json:"own_size"`
	// IOSize is the READ and WRITE size (64 KiB).
	IOSize int `json:"io_size"`
	// CacheMaxSize is the proxy's cache cap (16 MiB): well below the data
	// set, so culling runs all the time.
	CacheMaxSize int64 `json:"cache_max_size"`
	// RestartEvery is the interval between upstream restarts (Duration/5,
	// within 5s..1m; negative: none).
	RestartEvery time.Duration `json:"restart_every_ns"`
	// SampleEvery is the interval between samples of the proxy process
	// (Duration/40, within 1s..10s).
	SampleEvery time.Duration `json:"sample_every_ns"`
	// Think is the mean pause of a client between two ops (100ms), which
	// keeps the load, and the CPU it takes, moderate.
	Think time.Duration `json:"think_ns"`
	// GoroutineSlack and FDSlack are the growth tolerated from the first
	// half's median to the second's (25 and 16), or SlackPercent (25) of
	// the first half's median when that is more.
	GoroutineSlack int `json:"goroutine_slack"`
	FDSlack        int `json:"fd_slack"`
	SlackPercent   int `json:"slack_percent"`
}

func (p *SoakParams) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defDur(&p.Duration, time.Minute)
	def(&p.Clients, 16)
	def(&p.Files, 48)
	if p.FileSize == 0 {
		p.FileSize = 1 << 20
	}
	if p.OwnSize == 0 {
		p.OwnSize = 1 << 20
	}
	def(&p.IOSize, 64<<10)
	if p.CacheMaxSize == 0 {
		p.CacheMaxSize = 16 << 20
	}
	defDur(&p.RestartEvery, min(max(p.Duration/5, 5*time.Second), time.Minute))
	defDur(&p.SampleEvery, min(max(p.Duration/40, time.Second), 10*time.Second))
	defDur(&p.Think, 100*time.Millisecond)
	def(&p.GoroutineSlack, 25)
	def(&p.FDSlack, 16)
	def(&p.SlackPercent, 25)
}

// WithDefaults returns p with every zero field set to its default.
func (p SoakParams) WithDefaults() SoakParams {
	p.setDefaults()
	return p
}

// Validate reports the first invalid field. Call it after defaults are set.
func (p *SoakParams) Validate() error {
	switch {
	case p.Duration < time.Second:
		return fmt.Errorf("bench: SoakParams.Duration: %v is below 1s", p.Duration)
	case p.Clients < 1 || p.Clients > 256:
		return fmt.Errorf("bench: SoakParams.Clients: %d not in 1..256", p.Clients)
	case p.Files < 1 || p.Files > 10000:
		return fmt.Errorf("bench: SoakParams.Files: %d not in 1..10000", p.Files)
	case p.IOSize < pageSize || p.IOSize%pageSize != 0 || p.IOSize > 1<<20:
		return fmt.Errorf("bench: SoakParams.IOSize: %d is not a multiple of %d up to 1 MiB", p.IOSize, pageSize)
	case p.FileSize < int64(p.IOSize) || p.FileSize%int64(p.IOSize) != 0 || p.FileSize > 1<<30:
		return fmt.Errorf("bench: SoakParams.FileSize: %d is not a multiple of IOSize %d up to 1 GiB", p.FileSize, p.IOSize)
	case p.OwnSize < int64(p.IOSize) || p.OwnSize%int64(p.IOSize) != 0 || p.OwnSize > 1<<30:
		return fmt.Errorf("bench: SoakParams.OwnSize: %d is not a multiple of IOSize %d up to 1 GiB", p.OwnSize, p.IOSize)
	case p.CacheMaxSize < 0:
		return fmt.Errorf("bench: SoakParams.CacheMaxSize: %d is negative", p.CacheMaxSize)
	case p.SampleEvery < 10*time.Millisecond:
		return fmt.Errorf("bench: SoakParams.SampleEvery: %v is below 10ms", p.SampleEvery)
	case p.RestartEvery > 0 && p.RestartEvery < time.Second:
		return fmt.Errorf("bench: SoakParams.RestartEvery: %v is below 1s", p.RestartEvery)
	case p.Think < 0 || p.GoroutineSlack < 0 || p.FDSlack < 0 || p.SlackPercent < 0:
		return errors.New("bench: SoakParams: Think and the slacks must not be negative")
	}
	return nil
}

// SoakProxy is a running proxy the soak can watch: its process and its
// metrics endpoint (Target().MetricsURL, for go_goroutines).
type SoakProxy interface {
	Proxy
	PID() int
}

var _ SoakProxy = (*ProxyProcess)(nil)

// SoakOptions configures RunSoak.
type SoakOptions struct {
	Params SoakParams
	// StartProxy starts the proxy in front of upstream with a data cache
	// capped at cacheMaxSize bytes, on this machine (its /proc is read).
	// Required.
	StartProxy func(ctx context.Context, upstream Target, cacheMaxSize int64) (SoakProxy, error)

	// Progress receives a status line every ProgressEvery (10s; 1s on a
	// terminal, rewritten in place). Nil: none.
	Progress      io.Writer
	ProgressTTY   bool
	ProgressEvery time.Duration
	Logger        *slog.Logger
}

// RunSoak starts nfs-ganesha on a fresh export (it must run as root), writes
// the data set on its disk, starts the proxy with o.StartProxy and runs the
// clients for Params.Duration while ganesha is restarted every
// Params.RestartEvery and the proxy process is sampled every
// Params.SampleEvery; then it checks every file through the proxy and on
// ganesha's disk. Everything it started is stopped before it returns. The
// result is returned in every case once ganesha has started; the error
// says why the soak failed (Soak.Failures lists every reason).
func RunSoak(ctx context.Context, o SoakOptions) (*Soak, error) {
	o.Params.setDefaults()
	if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	if o.StartProxy == nil {
		return nil, errors.New("bench: SoakOptions.StartProxy: nil")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 10 * time.Second
		if o.ProgressTTY {
			o.ProgressEvery = time.Second
		}
	}
	po := Options{Progress: o.Progress, ProgressTTY: o.ProgressTTY}
	defer po.progressDone()
	p := &o.Params
	res := &Soak{Date: time.Now().UTC(), Machine: DescribeMachine(ctx), Params: *p}
	start := time.Now()
	defer func() { res.Took = time.Since(start) }()

	po.progressf("soak: starting nfs-ganesha…")
	g, err := harness.StartGanesha(ctx, harness.GaneshaOptions{})
	if err != nil {
		return nil, fmt.Errorf("bench: soak: %w", err)
	}
	defer g.Close()
	res.Upstream = ganeshaVersion(ctx) + " (FSAL VFS)"
	data, err := writeSoakData(g.Dir, p)
	if err != nil {
		return res, res.fail(err)
	}

	po.progressf("soak: starting the proxy…")
	up := Target{Host: g.Host, NFSPort: g.NFSPort, MountPort: g.MountPort, Export: g.Export}
	px, err := o.StartProxy(ctx, up, p.CacheMaxSize)
	if err != nil {
		return res, res.fail(fmt.Errorf("start proxy: %w", err))
	}
	res.Notes = append(res.Notes, px.Notes()...)
	closed := false
	closeProxy := func() {
		if closed {
			return
		}
		closed = true
		if err := px.Close(); err != nil {
			res.fail(fmt.Errorf("stop proxy: %w", err))
		}
	}
	defer closeProxy()
	target := px.Target()
	if target.MetricsURL == "" {
		return res, res.fail(errors.New("the proxy has no metrics endpoint: goroutines cannot be sampled"))
	}

	// The load, with the sampler and the restarter beside it.
	// A failed restart stops the load: the upstream is down for good.
	loadCtx, stopLoad := context.WithCancelCause(ctx)
	defer stopLoad(nil)
	sampler := startSampler(ctx, px.PID(), target.MetricsURL, p.SampleEvery)
	restarter := startRestarter(ctx, g, p.RestartEvery, o.Logger, stopLoad)
	load, err := runSoakLoad(loadCtx, target, data, p, &po, o.ProgressEvery)
	restarts, rerr := restarter.stop()
	res.Samples, res.SampleErrors = sampler.stop()
	res.Restarts = restarts
	if load != nil {
		res.Ops = load.snapshot()
	}
	if rerr != nil {
		res.fail(fmt.Errorf("restart ganesha: %w", rerr))
	} else if err != nil {
		res.fail(err)
	}

	// The final check: every file, through the proxy and on the disk.
	if len(res.Failures) == 0 {
		po.progressf("soak: checking every file…")
		n, err := data.verify(ctx, target)
		res.VerifiedBytes = n
		if err != nil {
			res.fail(fmt.Errorf("final check: %w", err))
		}
	}
	if m, err := Scrape(ctx, target.MetricsURL); err == nil {
		res.Culls = m["nfscacheproxy_store_culls_total"]
		res.UpstreamReconnects = m["nfscacheproxy_upstream_reconnects_total"]
		res.CacheBytes = m["nfscacheproxy_store_bytes"]
	} else {
		res.fail(fmt.Errorf("final scrape: %w", err))
	}
	if len(res.Failures) > 0 {
		if lt, ok := px.(interface{ LogTail(int) string }); ok {
			res.ProxyLogTail = lt.LogTail(30)
		}
	}
	closeProxy()
	res.analyse()
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("bench: soak failed: %s", res.Failures[0])
	}
	return res, nil
}

// restarter restarts ganesha every interval until stopped; a failed
// restart ends it and is passed to onErr.
type restarter struct {
	cancel context.CancelFunc
	done   chan struct{}
	n      int
	err    error
}

func startRestarter(ctx context.Context, g *harness.Ganesha, every time.Duration, log *slog.Logger, onErr func(error)) *restarter {
	ctx, cancel := context.WithCancel(ctx)
	r := &restarter{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if every <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A restart is never cut short: the soak goes on against a
			// running upstream.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			err := g.Restart(rctx)
			rcancel()
			if err != nil {
				r.err = err
				onErr(err)
				return
			}
			r.n++
			log.Debug("soak: restarted ganesha", "restarts", r.n)
		}
	}()
	return r
}

// stop waits for a restart in progress and returns the count and the first
// error.
func (r *restarter) stop() (int, error) {
	r.cancel()
	<-r.done
	return r.n, r.err
}
