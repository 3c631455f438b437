package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// serve starts s on a loopback port and shuts it down at cleanup,
// checking Serve returns nil. It returns the base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := await.Recv(t, "Serve to return", errc); err != nil {
			t.Errorf("Serve after Shutdown: got %v; want nil", err)
		}
	})
	return "http://" + l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body, err := fetch(url)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// fetch is get for goroutines other than the test's, which must not
// call t.Fatal.
func fetch(url string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b), nil
}

// series returns the value text of the exposition line for series, or "".
func series(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Goroutines the test ended may still be on their way out.
		if await.Poll(await.Deadline, func() bool { return runtime.NumGoroutine() <= before }) {
			return
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d after; want <= %d before\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	})
}

type fakeStats struct {
	Conns int64
	Calls [3]int64
}

func TestMetrics(t *testing.T) {
	checkNoLeak(t)
	s := New(Options{})
	var conns atomic.Int64
	var calls [3]atomic.Int64
	snap := func() fakeStats {
		st := fakeStats{Conns: conns.Load()}
		for i := range calls {
			st.Calls[i] = calls[i].Load()
		}
		return st
	}
	names := []string{"null", "getattr", "lookup"}
	s.Registry().MustRegister(NewSnapshotCollector(snap,
		Gauge("nfscacheproxy_test_connections", "Open connections.", func(s fakeStats) float64 { return float64(s.Conns) }),
		CounterVec("nfscacheproxy_test_calls_total", "Calls.", []string{"proc"}, func(s fakeStats, emit func(float64, ...string)) {
			for i, n := range s.Calls {
				emit(float64(n), names[i])
			}
		}),
	))
	req := NewProcHistograms(ProcHistogramOpts{Name: "request", Help: "client requests"})
	up := NewProcHistograms(ProcHistogramOpts{Name: "upstream_call", Help: "upstream calls"})
	s.Registry().MustRegister(req, up)
	var obs RequestObserver = req
	base := serve(t, s)

	obs.ObserveRequest("nfs", "read", 3*time.Millisecond, true)
	obs.ObserveRequest("nfs", "read", 5*time.Millisecond, false)
	up.Observe("read", 0.002, false)
	conns.Store(4)
	calls[1].Add(7)

	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d; want 200\n%s", code, body)
	}
	want := map[string]string{
		`nfscacheproxy_request_duration_seconds_count{proc="read",prog="nfs"}`:       "2",
		`nfscacheproxy_request_duration_seconds_sum{proc="read",prog="nfs"}`:         "0.008",
		`nfscacheproxy_request_errors_total{proc="read",prog="nfs"}`:                 "1",
		`nfscacheproxy_upstream_call_duration_seconds_count{proc="read",prog="nfs"}`: "1",
		`nfscacheproxy_test_connections`:                                             "4",
		`nfscacheproxy_test_calls_total{proc="getattr"}`:                             "7",
		`nfscacheproxy_test_calls_total{proc="null"}`:                                "0",
	}
	for name, v := range want {
		if got := series(body, name); got != v {
			t.Errorf("/metrics %s: got %q; want %q", name, got, v)
		}
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "promhttp_metric_handler_requests_total{code=\"200\"}"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics: no %s", name)
		}
	}
	if strings.Contains(body, "nfscacheproxy_upstream_call_errors_total{") {
		t.Errorf("/metrics: an upstream error series with no error observed")
	}

	// The values move.
	obs.ObserveRequest("nfs", "read", time.Millisecond, true)
	obs.ObserveRequest("mount", "mnt", time.Millisecond, true)
	conns.Store(1)
	calls[1].Add(1)
	_, body = get(t, base+"/metrics")
	want = map[string]string{
		`nfscacheproxy_request_duration_seconds_count{proc="read",prog="nfs"}`:  "3",
		`nfscacheproxy_request_duration_seconds_count{proc="mnt",prog="mount"}`: "1",
		`nfscacheproxy_test_connections`:                                        "1",
		`nfscacheproxy_test_calls_total{proc="getattr"}`:                        "8",
	}
	for name, v := range want {
		if got := series(body, name); got != v {
			t.Errorf("/metrics after more calls %s: got %q; want %q", name, got, v)
		}
	}
}

func TestSnapshotBadLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewSnapshotCollector(func() int { return 5 },
		Counter("nfscacheproxy_test_good_total", "Good.", func(n int) float64 { return float64(n) }),
		GaugeVec("nfscacheproxy_test_bad", "Bad.", []string{"a", "b"}, func(n int, emit func(float64, ...string)) {
			emit(1, "only-one")
		}),
	))
	mfs, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "nfscacheproxy_test_bad") {
		t.Errorf("Gather: got %v; want an error naming nfscacheproxy_test_bad", err)
	}
	var good bool
	for _, mf := range mfs {
		if mf.GetName() == "nfscacheproxy_test_good_total" && mf.GetMetric()[0].GetCounter().GetValue() == 5 {
			good = true
		}
	}
	if !good {
		t.Errorf("Gather: the good metric is missing beside the bad one")
	}
}

func TestHealthz(t *testing.T) {
	checkNoLeak(t)
	s := New(Options{})
	s.AddReadiness("never", func(context.Context) error { return errors.New("no") })
	base := serve(t, s)
	code, body := get(t, base+"/healthz")
	if code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: got %d %q; want 200 \"ok\\n\" (readiness does not matter)", code, body)
	}
}

func TestReadyzFlips(t *testing.T) {
	checkNoLeak(t)
	s := New(Options{ReadyCacheFor: -1})
	var upErr atomic.Pointer[error]
	e := errors.New("upstream filer:/export unreachable")
	upErr.Store(&e)
	s.AddReadiness("upstream", func(context.Context) error { return *upErr.Load() })
	s.AddReadiness("cache", func(context.Context) error { return nil })
	base := serve(t, s)

	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "upstream: upstream filer:/export unreachable") || strings.Contains(body, "cache") {
		t.Errorf("/readyz with a failing check: got %d %q; want 503 naming upstream only", code, body)
	}
	var ok error
	upErr.Store(&ok)
	code, body = get(t, base+"/readyz")
	if code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz with passing checks: got %d %q; want 200 \"ok\\n\"", code, body)
	}
}

func TestReadyzNoChecks(t *testing.T) {
	s := New(Options{})
	base := serve(t, s)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz without checks: got %d; want 200", code)
	}
}

func TestReadyzTimeout(t *testing.T) {
	checkNoLeak(t)
	clock := clockwork.NewFakeClock()
	s := New(Options{Clock: clock, ReadyTimeout: 50 * time.Millisecond, ReadyCacheFor: -1})
	answered := make(chan struct{})
	s.AddReadiness("slow", func(ctx context.Context) error {
		<-ctx.Done()
		<-answered // answers late: only after /readyz has given up on it
		return ctx.Err()
	})
	s.AddReadiness("panics", func(context.Context) error { panic("boom") })
	base := serve(t, s)
	var once sync.Once
	release := func() { once.Do(func() { close(answered) }) }
	t.Cleanup(release) // before the Shutdown of serve's cleanup, if the test fails early
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		code, body, err := fetch(base + "/readyz")
		got <- answer{code, body, err}
	}()
	// The panic is reported; only the slow check is left when the
	// timeout comes.
	await.Until(t, "the panicking check's answer", func() bool { return s.ready.answers.Load() == 1 })
	clock.Advance(50 * time.Millisecond)
	a := await.Recv(t, "the /readyz answer", got)
	release()
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "slow: no answer within 50ms") || !strings.Contains(a.body, "panics: panic: boom") {
		t.Errorf("/readyz: got %d %q; want 503 with slow timed out and panics", a.code, a.body)
	}
}

func TestReadyzCached(t *testing.T) {
	checkNoLeak(t)
	s := New(Options{ReadyCacheFor: time.Hour})
	var runs atomic.Int64
	release := make(chan struct{})
	s.AddReadiness("counted", func(ctx context.Context) error {
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	base := serve(t, s)
	// Concurrent probes share one evaluation.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, body, err := fetch(base + "/readyz"); err != nil || code != http.StatusOK {
				t.Errorf("/readyz: got %d %q %v; want 200", code, body, err)
			}
		}()
	}
	// One probe runs the check; the other seven wait for its result.
	await.Until(t, "one check run and 7 probes waiting on it", func() bool {
		return runs.Load() == 1 && s.ready.joins.Load() == 7
	})
	close(release)
	wg.Wait()
	get(t, base+"/readyz")
	if got := runs.Load(); got != 1 {
		t.Errorf("check runs: got %d; want 1 (shared, then cached)", got)
	}
	// A new check invalidates the cached result.
	s.AddReadiness("new", func(context.Context) error { return errors.New("not yet") })
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after adding a failing check: got %d; want 503", code)
	}
}

func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		s := New(Options{Pprof: on})
		base := serve(t, s)
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1"} {
			if code, _ := get(t, base+p); code != want {
				t.Errorf("Pprof=%v %s: got %d; want %d", on, p, code, want)
			}
		}
		code, body := get(t, base+"/")
		if code != http.StatusOK || strings.Contains(body, "pprof") != on {
			t.Errorf("Pprof=%v /: got %d %q", on, code, body)
		}
		if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
			t.Errorf("/nothing: got %d; want 404", code)
		}
	}
}

func TestShutdownCancelsChecks(t *testing.T) {
	checkNoLeak(t)
	s := New(Options{ReadyTimeout: time.Hour, ReadyCacheFor: -1})
	started := make(chan struct{})
	s.AddReadiness("blocks", func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	probe := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + l.Addr().String() + "/readyz")
		if err != nil {
			probe <- 0
			return
		}
		resp.Body.Close()
		probe <- resp.StatusCode
	}()
	await.Recv(t, "the check to start", started)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := await.Recv(t, "Serve to return", errc); err != nil {
		t.Errorf("Serve: got %v; want nil", err)
	}
	if code := await.Recv(t, "the probe's answer", probe); code != http.StatusServiceUnavailable {
		t.Errorf("probe during Shutdown: got %d; want 503", code)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestListenAndServe(t *testing.T) {
	if err := New(Options{}).ListenAndServe(); err == nil || !strings.Contains(err.Error(), "Listen") {
		t.Errorf("ListenAndServe without Listen: got %v; want an error naming Listen", err)
	}
}

func TestProcHistogramsNeedsName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("NewProcHistograms without Name: no panic")
		}
	}()
	NewProcHistograms(ProcHistogramOpts{})
}

// TestProcHistogramsResults: with Results, the latency histogram has a
// result label; errors stay by program and procedure only.
func TestProcHistogramsResults(t *testing.T) {
	s := New(Options{})
	req := NewProcHistograms(ProcHistogramOpts{Name: "request", Help: "client requests", Results: true})
	s.Registry().MustRegister(req)
	base := serve(t, s)
	req.ObserveResult("nfs", "read", "hit", time.Millisecond, true)
	req.ObserveResult("nfs", "read", "hit", time.Millisecond, true)
	req.ObserveResult("nfs", "read", "miss", 4*time.Millisecond, false)
	req.ObserveResult("nfs", "write", "pass", 2*time.Millisecond, true)
	_, body := get(t, base+"/metrics")
	for name, v := range map[string]string{
		`nfscacheproxy_request_duration_seconds_count{proc="read",prog="nfs",result="hit"}`:   "2",
		`nfscacheproxy_request_duration_seconds_count{proc="read",prog="nfs",result="miss"}`:  "1",
		`nfscacheproxy_request_duration_seconds_count{proc="write",prog="nfs",result="pass"}`: "1",
		`nfscacheproxy_request_errors_total{proc="read",prog="nfs"}`:                          "1",
	} {
		if got := series(body, name); got != v {
			t.Errorf("/metrics %s: got %q; want %q", name, got, v)
		}
	}
}

// TestBuildInfo: nfscacheproxy_build_info is 1 and names the Go version.
func TestBuildInfo(t *testing.T) {
	base := serve(t, New(Options{}))
	_, body := get(t, base+"/metrics")
	b := ReadBuildInfo()
	name := `nfscacheproxy_build_info{goversion="` + b.GoVersion + `",revision="` + b.Revision + `",version="` + b.Version + `"}`
	if got := series(body, name); got != "1" {
		t.Errorf("/metrics %s: got %q; want 1", name, got)
	}
	if !strings.HasPrefix(b.GoVersion, "go1.") {
		t.Errorf("BuildInfo.GoVersion %q; want go1.*", b.GoVersion)
	}
}

// BenchmarkObserveResult: one request's latency and outcome, as the
// proxy reports them, from 32 goroutines.
func BenchmarkObserveResult(b *testing.B) {
	h := NewProcHistograms(ProcHistogramOpts{Name: "request", Results: true})
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ObserveResult("nfs", "getattr", "hit", 40*time.Microsecond, true)
		}
	})
}
