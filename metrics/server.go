package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures a Server. The zero value works (Listen is needed only
// by ListenAndServe).
type Options struct {
	Listen string // address for ListenAndServe, e.g. ":9102"
	Pprof  bool   // serve /debug/pprof/

	ReadyTimeout  time.Duration // per readiness check (default 2s)
	ReadyCacheFor time.Duration // how long a readiness result is reused (default 1s; negative: never)

	Logger *slog.Logger

	// Clock times the readiness checks and the reuse of their result.
	// Nil means the real clock; tests pass a fake one and advance it.
	Clock clockwork.Clock
}

func (o *Options) setDefaults() {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Second
	}
	if o.ReadyCacheFor == 0 {
		o.ReadyCacheFor = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
}

// Server serves the operational endpoints. See the package comment.
type Server struct {
	opts  Options
	log   *slog.Logger
	reg   *prometheus.Registry
	mux   *http.ServeMux
	http  *http.Server
	ready readiness

	ctx    context.Context // cancelled by Shutdown; parent of readiness checks
	cancel context.CancelFunc
}

// New returns a Server with a fresh registry holding the Go runtime,
// process and build-info collectors and nfscacheproxy_build_info.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts: opts,
		log:  opts.Logger,
		reg:  prometheus.NewRegistry(),
		mux:  http.NewServeMux(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ready.init(s.ctx, opts.Clock, opts.ReadyTimeout, opts.ReadyCacheFor)
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		NewBuildInfoGauge(ReadBuildInfo()),
	)
	metricsHandler := promhttp.InstrumentMetricHandler(s.reg, promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          s.reg,
		EnableOpenMetrics: true,
	}))
	s.mux.Handle("GET /metrics", metricsHandler)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	if opts.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.mux.HandleFunc("GET /{$}", s.serveIndex)
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// No WriteTimeout: /debug/pprof/profile streams for its "seconds".
	}
	return s
}

// Registry returns the registry /metrics serves; register collectors on it.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler returns the HTTP handler of every endpoint, for tests or for
// mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle adds an operator endpoint (for example the proxy's cache
// invalidation) beside the built-in ones. Call it before Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddReadiness adds a check that must return nil for /readyz to pass. check
// gets a context that ends after Options.ReadyTimeout or at Shutdown, and
// should return when it ends. Names label the failures in the response.
func (s *Server) AddReadiness(name string, check func(ctx context.Context) error) {
	s.ready.add(name, check)
}

// Serve serves HTTP on l until Shutdown, then returns nil.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics: serve: %w", err)
}

// ListenAndServe listens on Options.Listen and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	if s.opts.Listen == "" {
		return errors.New("metrics: Listen: empty")
	}
	l, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("metrics: listen: %w", err)
	}
	return s.Serve(l)
}

// Shutdown stops the listeners, cancels readiness checks in flight, and
// waits up to ctx for open requests and check goroutines to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		s.ready.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

func (s *Server) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "nfscacheproxy\n\n/metrics\n/healthz\n/readyz\n")
	if s.opts.Pprof {
		fmt.Fprint(w, "/debug/pprof/\n")
	}
}
