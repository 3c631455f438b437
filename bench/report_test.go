package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sampleMetrics = `# HELP nfscacheproxy_upstream_calls_total Calls made upstream.
# TYPE nfscacheproxy_upstream_calls_total counter
nfscacheproxy_upstream_calls_total{proc="READ",volume="1"} 120
nfscacheproxy_upstream_calls_total{proc="GETATTR",volume="1"} 30 1700000000000
nfscacheproxy_upstream_calls_total{proc="we\"ird} {x",volume="1"} 2
nfscacheproxy_upstream_read_bytes_total 1.048576e+06
process_open_fds 12
rpc_latency_seconds_bucket{le="+Inf"} 7
nan_metric NaN

`

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want float64
	}{
		{"nfscacheproxy_upstream_calls_total", 152},
		{"nfscacheproxy_upstream_read_bytes_total", 1 << 20},
		{"process_open_fds", 12},
		{"rpc_latency_seconds_bucket", 7},
		{"absent", 0},
	}
	for _, tc := range tests {
		if got := m[tc.name]; got != tc.want {
			t.Errorf("%s: got %v; want %v", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(m["nan_metric"]) {
		t.Errorf("nan_metric: got %v; want NaN", m["nan_metric"])
	}

	later, err := ParseMetrics(strings.NewReader(strings.NewReplacer(
		`volume="1"} 120`, `volume="1"} 200`, "1.048576e+06", "3145728").Replace(sampleMetrics)))
	if err != nil {
		t.Fatal(err)
	}
	d := later.Sub(m)
	if d["nfscacheproxy_upstream_calls_total"] != 80 || d["nfscacheproxy_upstream_read_bytes_total"] != 2<<20 || d["process_open_fds"] != 0 {
		t.Errorf("delta: got %v; want calls 80, read bytes 2 MiB, fds 0", d)
	}
	if _, ok := d["nan_metric"]; ok {
		t.Errorf("delta kept a NaN")
	}
}

func TestUpstreamDelta(t *testing.T) {
	o := Options{}
	o.setDefaults()
	tests := []struct {
		name          string
		before, after Metrics
		want          Upstream
	}{
		{"both", Metrics{DefaultCallsMetric: 1, DefaultReadBytesMetric: 10}, Metrics{DefaultCallsMetric: 4, DefaultReadBytesMetric: 30},
			Upstream{Calls: 3, ReadBytes: 20, HaveCalls: true, HaveReadBytes: true}},
		{"histogram count", Metrics{fallbackCallsMetric: 5}, Metrics{fallbackCallsMetric: 9}, Upstream{Calls: 4, HaveCalls: true}},
		{"neither", Metrics{"go_goroutines": 3}, Metrics{"go_goroutines": 5}, Upstream{}},
	}
	for _, tc := range tests {
		if got := upstreamDelta(tc.before, tc.after, &o); *got != tc.want {
			t.Errorf("%s: got %+v; want %+v", tc.name, *got, tc.want)
		}
	}
	r := Result{Calls: 10, ReadBytes: 10, Upstream: &Upstream{}}
	if _, ok := r.UpstreamBytesPerByte(); ok {
		t.Errorf("bytes per byte without the counter: reported")
	}
	var buf bytes.Buffer
	WriteTable(&buf, []Result{r})
	if f := strings.Fields(strings.Split(buf.String(), "\n")[1]); f[len(f)-1] != "-" || f[len(f)-2] != "-" {
		t.Errorf("table without counters: got %q; want - for both ratios", buf.String())
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, in := range []string{
		"metric_without_value\n",
		`m{a="b" 1` + "\n",
		"m{a=\"b\"} notanumber\n",
		"m 1 2 3\n",
	} {
		if _, err := ParseMetrics(strings.NewReader(in)); err == nil {
			t.Errorf("ParseMetrics(%q): got no error", in)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	section := MarkerStart + "\nnew body\n" + MarkerEnd
	tests := []struct {
		name, doc, want string
	}{
		{"empty file", "", MarkerStart + "\nnew body\n" + MarkerEnd + "\n"},
		{"no markers", "# Benchmarks\n\nIntro.", "# Benchmarks\n\nIntro.\n\n" + section + "\n"},
		{"replaces between markers",
			"# Benchmarks\n\nbefore\n" + MarkerStart + "\nold\nlines\n" + MarkerEnd + "\nafter\n",
			"# Benchmarks\n\nbefore\n" + section + "\nafter\n"},
		{"keeps text on marker lines",
			"a " + MarkerStart + "old" + MarkerEnd + " b",
			"a " + section + " b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceSection(tc.doc, "new body\n\n")
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
			again, err := ReplaceSection(got, "new body")
			if err != nil || again != got {
				t.Errorf("second replacement: got %q, %v; want it unchanged", again, err)
			}
		})
	}
	for _, bad := range []string{MarkerEnd + MarkerStart, MarkerStart, "x" + MarkerEnd, MarkerStart + MarkerEnd + MarkerStart + MarkerEnd} {
		if _, err := ReplaceSection(bad, "b"); !errors.Is(err, ErrMarkers) {
			t.Errorf("ReplaceSection(%q): got %v; want ErrMarkers", bad, err)
		}
	}
}

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := WriteSection(path, "one"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc := "# Title\n\nkept above\n\n" + string(b) + "\nkept below\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(path, "two"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	want := "# Title\n\nkept above\n\n" + MarkerStart + "\ntwo\n" + MarkerEnd + "\n\nkept below\n"
	if string(b) != want {
		t.Errorf("got %q; want %q", b, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v; want 0600 kept", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory: got %d files; want no temporary file left", len(ents))
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(tc.q)
		if diff := math.Abs(float64(got-tc.want)) / float64(tc.want); diff > 0.035 {
			t.Errorf("quantile(%v): got %v; want %v within 3.5%%", tc.q, got, tc.want)
		}
	}
	var a, b histogram
	a.record(3 * time.Millisecond)
	b.record(time.Millisecond)
	b.record(10 * time.Second)
	a.merge(&b)
	if a.n != 3 || a.min != time.Millisecond || a.max != 10*time.Second || a.quantile(0.5) < 2900*time.Microsecond || a.quantile(0.5) > 3100*time.Microsecond {
		t.Errorf("merge: got n=%d min=%v max=%v p50=%v", a.n, a.min, a.max, a.quantile(0.5))
	}
	// Every bucket's range starts where the previous ended.
	for i := 1; i < 58<<subBits; i++ { // up to about 2^62 ns
		lo, _ := bucketRange(i)
		plo, pw := bucketRange(i - 1)
		if lo != plo+pw || bucketOf(lo) != i || bucketOf(lo-1) != i-1 {
			t.Fatalf("bucket %d: starts at %v, previous covers [%v, %v)", i, lo, plo, plo+pw)
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 || empty.mean() != 0 {
		t.Errorf("empty histogram: got p50 %v mean %v; want 0", empty.quantile(0.5), empty.mean())
	}
}

func TestReportOutputs(t *testing.T) {
	r := Result{Workload: "seqread", Label: "proxy-warm-far", Ops: 256, Calls: 256, ReadBytes: 256 << 20,
		Duration: 2 * time.Second, P50: 7 * time.Millisecond, P99: 12 * time.Millisecond, Mean: 8 * time.Millisecond,
		Upstream: &Upstream{Calls: 64, ReadBytes: 128 << 20, HaveCalls: true, HaveReadBytes: true}}
	if v, ok := r.UpstreamCallsPerCall(); !ok || v != 0.25 {
		t.Errorf("calls per call: got %v, %v; want 0.25", v, ok)
	}
	if v, ok := r.UpstreamBytesPerByte(); !ok || v != 0.5 {
		t.Errorf("bytes per byte: got %v, %v; want 0.5", v, ok)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Result{r}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 2 || len(lines[0]) != len(lines[1]) {
		t.Errorf("table: got %q; want two lines of equal width", buf.String())
	}
	for _, want := range []string{"seqread", "proxy-warm-far", "256MiB", "134", "7ms", "12ms", "0.25", "0.5"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("table row %q lacks %q", lines[1], want)
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	json.Unmarshal(js, &back)
	if back["p50_ms"] != 7.0 || back["upstream_calls_per_call"] != 0.25 || back["duration_s"] != 2.0 {
		t.Errorf("json: got %s", js)
	}
}

func TestMatrixRatiosAndMarkdown(t *testing.T) {
	res := func(label string, ops int64) Result {
		return Result{Workload: "stat", Label: label, Ops: ops, Calls: 2 * ops, Duration: time.Second, P50: time.Millisecond, P99: time.Millisecond}
	}
	m := &Matrix{RTT: 10 * time.Millisecond, Upstream: "nfs-ganesha", Runs: []Report{
		{Label: DirectNear, Results: []Result{res(DirectNear, 1000)}},
		{Label: DirectFar, Results: []Result{res(DirectFar, 100)}},
		{Label: ProxyColdFar, Results: []Result{res(ProxyColdFar, 50)}},
		{Label: ProxyWarmFar, Results: []Result{res(ProxyWarmFar, 800)}},
	}}
	m.Ratios = m.ratios()
	want := Ratio{Workload: "stat", WarmVsDirectFar: 8, WarmVsDirectNear: 0.8, ColdVsDirectFar: 0.5}
	if len(m.Ratios) != 1 || m.Ratios[0] != want {
		t.Errorf("ratios: got %+v; want %+v", m.Ratios, want)
	}
	md := m.Markdown()
	for _, s := range []string{"## Benchmark matrix", "| stat | proxy-warm-far |", "| stat | 8.00× | 0.80× | 0.50× |", "10ms round trip"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
	var buf bytes.Buffer
	if err := m.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "8.00×") {
		t.Errorf("text: got %v\n%s", err, buf.String())
	}
	if strings.Contains(md, "### ") {
		t.Errorf("one matrix has a subheading:\n%s", md)
	}

	// Several round trips: one section heading, a subheading per matrix
	// in the order run.
	near := *m
	near.RTT = time.Millisecond
	two := MatricesMarkdown([]*Matrix{&near, m})
	if n := strings.Count(two, "## Benchmark matrix"); n != 1 {
		t.Errorf("two matrices: %d section headings; want 1:\n%s", n, two)
	}
	i1, i10 := strings.Index(two, "### 1ms round trip"), strings.Index(two, "### 10ms round trip")
	if i1 < 0 || i10 < i1 {
		t.Errorf("two matrices: subheadings at %d (1ms) and %d (10ms); want both, 1ms first:\n%s", i1, i10, two)
	}
}
