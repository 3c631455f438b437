package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ProcHistogramOpts configures ProcHistograms.
type ProcHistogramOpts struct {
	// Name is the middle of the metric names:
	// nfscacheproxy_<Name>_duration_seconds and nfscacheproxy_<Name>_errors_total.
	// Required, e.g. "request" or "upstream_call".
	Name string
	// Help describes what is timed, e.g. "client requests"; default Name.
	Help string
	// Prog is the prog label Observe uses (default "nfs").
	Prog string
	// Buckets in seconds; default DefaultBuckets().
	Buckets []float64
	// Results adds a result label to the latency histogram (ObserveResult):
	// hit, miss or pass for client requests.
	Results bool
}

// DefaultBuckets returns 16 exponential buckets from 100µs to 60s: from a
// LAN round trip to a slow hard-mounted retry.
func DefaultBuckets() []float64 { return prometheus.ExponentialBucketsRange(0.0001, 60, 16) }

// ProcHistograms times calls by program and procedure: a latency histogram
// and an error counter, labelled prog and proc. It is a
// prometheus.Collector; register it on Server.Registry().
type ProcHistograms struct {
	prog    string
	results bool // hist has the result label
	hist    *prometheus.HistogramVec
	errors  *prometheus.CounterVec

	// The series already in use, so that a request does not pay for
	// WithLabelValues (hashing its labels, a lock shared by every
	// request): read without a lock; a new series copies the map under
	// mu (there are a few dozen, made once each).
	mu      sync.Mutex
	hists   atomic.Pointer[map[procKey]prometheus.Observer]
	errorsC atomic.Pointer[map[procKey]prometheus.Counter]
}

// procKey names one series; result is empty for the error counter and
// for histograms without the result label.
type procKey struct{ prog, proc, result string }

// cached returns the child of m for k, made by mk and remembered the
// first time.
func cached[T any](mu *sync.Mutex, m *atomic.Pointer[map[procKey]T], k procKey, mk func() T) T {
	if cur := m.Load(); cur != nil {
		if c, ok := (*cur)[k]; ok {
			return c
		}
	}
	mu.Lock()
	defer mu.Unlock()
	cur := m.Load()
	if cur != nil {
		if c, ok := (*cur)[k]; ok {
			return c
		}
	}
	next := make(map[procKey]T, 1)
	if cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	c := mk()
	next[k] = c
	m.Store(&next)
	return c
}

// histFor returns the latency series of (prog, proc, result).
func (h *ProcHistograms) histFor(prog, proc, result string) prometheus.Observer {
	if !h.results {
		result = ""
	}
	return cached(&h.mu, &h.hists, procKey{prog, proc, result}, func() prometheus.Observer {
		if h.results {
			return h.hist.WithLabelValues(prog, proc, result)
		}
		return h.hist.WithLabelValues(prog, proc)
	})
}

// errorsFor returns the error counter of (prog, proc).
func (h *ProcHistograms) errorsFor(prog, proc string) prometheus.Counter {
	return cached(&h.mu, &h.errorsC, procKey{prog: prog, proc: proc}, func() prometheus.Counter {
		return h.errors.WithLabelValues(prog, proc)
	})
}

// RequestObserver is what a component that times its calls needs; the
// proxy and the upstream client can declare it themselves (interfaces
// belong to the consumer), and *ProcHistograms satisfies it.
type RequestObserver interface {
	ObserveRequest(prog, proc string, d time.Duration, ok bool)
}

var (
	_ RequestObserver      = (*ProcHistograms)(nil)
	_ prometheus.Collector = (*ProcHistograms)(nil)
)

// NewProcHistograms returns unregistered ProcHistograms. It panics when
// opts.Name is empty (a programming error, like prometheus.MustRegister).
func NewProcHistograms(opts ProcHistogramOpts) *ProcHistograms {
	if opts.Name == "" {
		panic("metrics: ProcHistogramOpts.Name: empty")
	}
	if opts.Help == "" {
		opts.Help = opts.Name
	}
	if opts.Prog == "" {
		opts.Prog = "nfs"
	}
	if opts.Buckets == nil {
		opts.Buckets = DefaultBuckets()
	}
	labels := []string{"prog", "proc"}
	histLabels, by := labels, "by RPC program and procedure"
	if opts.Results {
		histLabels, by = []string{"prog", "proc", "result"}, "by RPC program, procedure and result (hit, miss, pass)"
	}
	return &ProcHistograms{
		prog:    opts.Prog,
		results: opts.Results,
		hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      opts.Name + "_duration_seconds",
			Help:      "Latency of " + opts.Help + ", " + by + ".",
			Buckets:   opts.Buckets,
		}, histLabels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      opts.Name + "_errors_total",
			Help:      "Failed " + opts.Help + " (status not OK), by RPC program and procedure.",
		}, labels),
	}
}

// Namespace prefixes every metric name this package defines.
const Namespace = "nfscacheproxy"

// ObserveRequest records one call of proc in prog that took d; ok is false
// when its reply status was not OK.
func (h *ProcHistograms) ObserveRequest(prog, proc string, d time.Duration, ok bool) {
	h.ObserveResult(prog, proc, "", d, ok)
}

// ObserveResult is ObserveRequest with the request's result, for
// histograms made with ProcHistogramOpts.Results (elsewhere result is
// ignored; here an empty one leaves the label out of the series).
func (h *ProcHistograms) ObserveResult(prog, proc, result string, d time.Duration, ok bool) {
	h.histFor(prog, proc, result).Observe(d.Seconds())
	if !ok {
		h.errorsFor(prog, proc).Inc()
	}
}

// Observe records one call of proc in ProcHistogramOpts.Prog that took
// seconds; err is true when it failed.
func (h *ProcHistograms) Observe(proc string, seconds float64, err bool) {
	h.histFor(h.prog, proc, "").Observe(seconds)
	if err {
		h.errorsFor(h.prog, proc).Inc()
	}
}

// Describe implements prometheus.Collector.
func (h *ProcHistograms) Describe(ch chan<- *prometheus.Desc) {
	h.hist.Describe(ch)
	h.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *ProcHistograms) Collect(ch chan<- prometheus.Metric) {
	h.hist.Collect(ch)
	h.errors.Collect(ch)
}
