package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// scrapeRunningProxy starts the proxy in front of an embedded upstream,
// reads a file through it twice (so the request, upstream and cache
// series have samples) and returns the text /metrics served.
func scrapeRunningProxy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(demoText), 0o644); err != nil {
		t.Fatal(err)
	}
	up, err := demoserver.Start(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	a, base := startTestApp(t, up)
	// A miss, then (once its granule is stored) a hit.
	if err := demoCheck(context.Background(), "127.0.0.1", a.Addr().Port, func() {
		await.Until(t, "the first READ's granule to be stored", func() bool { return a.store.Stats().Fills > 0 })
	}); err != nil {
		t.Fatalf("reading through the proxy: %v", err)
	}
	// A state-changing call: a SETATTR that changes nothing.
	c, err := upstream.Dial(context.Background(), upstream.Options{Server: "127.0.0.1", Export: "/export",
		NFSPort: a.Addr().Port, MountPort: a.Addr().Port, UnprivilegedPort: true, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res, err := c.Setattr(context.Background(), &rpc.Cred{Flavor: rpc.AuthSys, Machine: "test"}, &nfs3.SetattrArgs{Object: c.Root()}); err != nil || res.Status != nfs3.StatOK {
		t.Fatalf("SETATTR through the proxy: %v %v", res, err)
	}
	if _, err := a.mets.Registry().Gather(); err != nil {
		t.Errorf("Gather: %v (duplicate or inconsistent series)", err)
	}
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

// parseExposition parses the text format strictly: a duplicate family or
// a malformed line is an error.
func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// TestMetricsExposition scrapes /metrics of a running proxy: no series
// appears twice, every per-volume family (cache_*, upstream_*, meta_*)
// labels each series with volume, build_info names the build, and the
// request histograms are in seconds.
func TestMetricsExposition(t *testing.T) {
	text := scrapeRunningProxy(t)

	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, _, _ := strings.Cut(line, " ")
		if seen[series] {
			t.Errorf("series %s appears twice", series)
		}
		seen[series] = true
	}

	fams := parseExposition(t, text)
	var names []string
	for name := range fams {
		names = append(names, name)
	}
	sort.Strings(names)
	perVolume := []string{"nfscacheproxy_cache_", "nfscacheproxy_upstream_up", "nfscacheproxy_upstream_calls_total", "nfscacheproxy_meta_"}
	var checked int
	for _, name := range names {
		if !slices.ContainsFunc(perVolume, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		for _, m := range fams[name].GetMetric() {
			checked++
			if labelOf(m, "volume") != "1" {
				t.Errorf("%s: a series without volume=\"1\": %v", name, m.GetLabel())
			}
		}
	}
	for _, want := range []string{"nfscacheproxy_cache_hits_total", "nfscacheproxy_cache_misses_total", "nfscacheproxy_cache_bytes_from_cache_total", "nfscacheproxy_upstream_up"} {
		if fams[want] == nil {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if checked == 0 {
		t.Fatal("no per-volume series at all")
	}

	bi := fams["nfscacheproxy_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 {
		t.Fatalf("nfscacheproxy_build_info: %v; want one series", bi)
	}
	for _, l := range []string{"version", "revision", "goversion"} {
		if labelOf(bi.GetMetric()[0], l) == "" {
			t.Errorf("nfscacheproxy_build_info has no %s label: %v", l, bi.GetMetric()[0].GetLabel())
		}
	}
	if v := bi.GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("nfscacheproxy_build_info = %v; want 1", v)
	}

	req := fams["nfscacheproxy_request_duration_seconds"]
	if req == nil || req.GetType().String() != "HISTOGRAM" {
		t.Fatalf("nfscacheproxy_request_duration_seconds: %v; want a histogram", req)
	}
	// Latency by result: the READ that fetched is a miss, the one served
	// from the cache a hit, the SETATTR a pass.
	count := map[string]uint64{}
	for _, m := range req.GetMetric() {
		count[labelOf(m, "proc")+"/"+labelOf(m, "result")] += m.GetHistogram().GetSampleCount()
	}
	for _, want := range []string{"read/miss", "read/hit", "setattr/pass"} {
		if count[want] != 1 {
			t.Errorf("nfscacheproxy_request_duration_seconds %s: %d requests; want 1 (all: %v)", want, count[want], count)
		}
	}
	for k := range count {
		if r := k[strings.Index(k, "/")+1:]; r != "hit" && r != "miss" && r != "pass" {
			t.Errorf("nfscacheproxy_request_duration_seconds: result %q (%s); want hit, miss or pass", r, k)
		}
	}
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// metricRef matches a metric name in a PromQL expression.
var metricRef = regexp.MustCompile(`\bnfscacheproxy_[a-zA-Z0-9_]+`)

// TestGrafanaDashboard: every metric the dashboard in deploy/grafana
// queries is one the running binary exports (a renamed metric would
// otherwise leave an empty panel), and the panels an operator looks for
// first are there.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "grafana", "nfscacheproxy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs, titles []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok {
					switch k {
					case "expr", "query", "definition":
						exprs = append(exprs, s)
					case "title":
						titles = append(titles, s)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)

	fams := parseExposition(t, scrapeRunningProxy(t))
	exported := func(name string) bool {
		if fams[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil && fams[base].GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	refs := 0
	for _, e := range exprs {
		for _, name := range metricRef.FindAllString(e, -1) {
			refs++
			if !exported(name) {
				t.Errorf("the dashboard queries %s, which the proxy does not export (in %q)", name, e)
			}
		}
	}
	if refs == 0 {
		t.Fatal("the dashboard queries no nfscacheproxy_ metric")
	}
	for _, want := range []string{"Hit ratio", "Bytes saved", "Upstream latency", "Upstream up", "Cache fill", "Cull activity"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("the dashboard has no panel %q (titles %q)", want, titles)
		}
	}
}
