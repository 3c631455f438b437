package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
)

// tiny returns parameters small enough for unit tests, with READDIRPLUS
// counts small enough to force many pages.
func tiny() Params {
	p := Params{
		Size: 64 << 10, BlockSize: 16 << 10,
		RandReads: 20, RandIO: 4096, RandFileSize: 64 << 10,
		Files: 10, Entries: 25, Listings: 3, DirCount: 512, MaxCount: 4096,
		TreeEntries: 30, SmallFiles: 7,
		MixedFiles: 2, MixedFileSize: 64 << 10, MixedIO: 16 << 10,
		Concurrency: 3,
	}
	p.setDefaults()
	return p
}

func startDemo(t *testing.T) (*demoserver.Server, Target) {
	t.Helper()
	d, err := demoserver.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, Target{Host: "127.0.0.1", NFSPort: d.Port(), MountPort: d.Port(), Export: "/export"}
}

func runT(t *testing.T, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func byName(t *testing.T, rep *Report, name string) *Result {
	t.Helper()
	for i := range rep.Results {
		if rep.Results[i].Workload == name {
			return &rep.Results[i]
		}
	}
	t.Fatalf("no result for %s", name)
	return nil
}

func TestWorkloadsAddUp(t *testing.T) {
	d, target := startDemo(t)
	p := tiny()
	mixedP := p
	mixedP.Duration = 200 * time.Millisecond
	rep := runT(t, Options{Target: target, Label: "demo", Params: p,
		Workloads: []string{"seqread", "seqwrite", "randread", "stat", "list", "walk", "smallfile"}})
	mixed := runT(t, Options{Target: target, Params: mixedP, Workloads: []string{"mixed"}})
	rep.Results = append(rep.Results, mixed.Results...)

	b, f := treeShape(p.TreeEntries)
	tests := []struct {
		name                      string
		ops, calls, items, rb, wb int64
	}{
		{"seqread", 4, 4, 0, p.Size, 0},
		{"seqwrite", 4, 5, 0, 0, p.Size}, // 4 WRITEs + COMMIT
		{"randread", 20, 20, 0, 20 * 4096, 0},
		{"stat", 10, 20, 0, 0, 0},
		{"list", 3, -1, 3 * 25, 0, 0},
		{"walk", int64(1 + b + b*b), -1, int64(b + b*b + b*b*f), 0, 0},
		{"smallfile", 7, 21, 0, 0, 7 * 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := byName(t, rep, tc.name)
			if r.Ops != tc.ops {
				t.Errorf("ops: got %d; want %d", r.Ops, tc.ops)
			}
			if tc.calls >= 0 && r.Calls != tc.calls {
				t.Errorf("calls: got %d; want %d", r.Calls, tc.calls)
			}
			if tc.calls < 0 && r.Calls <= r.Ops {
				t.Errorf("calls: got %d; want more than one per op (%d ops)", r.Calls, r.Ops)
			}
			if r.Items != tc.items || r.ReadBytes != tc.rb || r.WriteBytes != tc.wb {
				t.Errorf("items/read/written: got %d/%d/%d; want %d/%d/%d", r.Items, r.ReadBytes, r.WriteBytes, tc.items, tc.rb, tc.wb)
			}
			if r.Duration <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.Label == "" {
				t.Errorf("timings: got duration %v p50 %v p99 %v max %v label %q", r.Duration, r.P50, r.P99, r.Max, r.Label)
			}
			if r.Upstream != nil {
				t.Errorf("upstream: got %+v without a metrics URL; want nil", r.Upstream)
			}
		})
	}
	t.Run("mixed", func(t *testing.T) {
		r := byName(t, rep, "mixed")
		if r.Ops == 0 || r.ReadBytes == 0 {
			t.Fatalf("ops/read: got %d/%d; want both > 0", r.Ops, r.ReadBytes)
		}
		if r.Bytes()%int64(p.MixedIO) != 0 {
			t.Errorf("bytes: got %d; want a multiple of %d", r.Bytes(), p.MixedIO)
		}
		if r.Duration < mixedP.Duration {
			t.Errorf("duration: got %v; want at least %v", r.Duration, mixedP.Duration)
		}
	})

	// What the workloads left on the server.
	fs := d.FS
	if fi, err := fs.Stat("nfsbench/seqwrite/f000"); err != nil || fi.Size() != p.Size {
		t.Errorf("seqwrite file: got %v, %v; want size %d", fi, err, p.Size)
	}
	if ents, err := fs.ReadDir("nfsbench/smallfile"); err != nil || len(ents) != 0 {
		t.Errorf("smallfile dir: got %d entries, %v; want none left", len(ents), err)
	}
	if ents, err := fs.ReadDir("nfsbench/" + statDataset(&p)); err != nil || len(ents) != p.Files {
		t.Errorf("stat dir: got %d entries, %v; want %d", len(ents), err, p.Files)
	}
	d.Close()
	goleak.VerifyNone(t) // every workload's goroutines are gone once Run returns
}

func TestSeqFilesAndBounds(t *testing.T) {
	_, target := startDemo(t)
	tests := []struct {
		name     string
		edit     func(*Params)
		workload string
		ops, rb  int64
	}{
		{"parallel files", func(p *Params) { p.SeqFiles = 2 }, "seqread", 4, 64 << 10},
		{"parallel files write", func(p *Params) { p.SeqFiles = 4 }, "seqwrite", 4, 0},
		{"max ops", func(p *Params) { p.MaxOps = 5 }, "randread", 5, 5 * 4096},
		{"max ops over files", func(p *Params) { p.SeqFiles = 2; p.MaxOps = 3 }, "seqread", 3, 3 * 16 << 10},
		{"one worker", func(p *Params) { p.Concurrency = 1 }, "stat", 10, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tiny()
			tc.edit(&p)
			r := runT(t, Options{Target: target, Params: p, Workloads: []string{tc.workload}}).Results[0]
			if r.Ops != tc.ops || r.ReadBytes != tc.rb {
				t.Errorf("ops/read: got %d/%d; want %d/%d", r.Ops, r.ReadBytes, tc.ops, tc.rb)
			}
		})
	}
}

func TestDurationBound(t *testing.T) {
	_, target := startDemo(t)
	p := tiny()
	p.RandReads = 1 << 30
	p.Duration = 150 * time.Millisecond
	start := time.Now()
	r := runT(t, Options{Target: target, Params: p, Workloads: []string{"randread"}}).Results[0]
	if r.Ops == 0 || r.Ops >= 1<<30 {
		t.Errorf("ops: got %d; want some, bounded", r.Ops)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("run took %v; want it bounded by the duration", el)
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	_, target := startDemo(t)
	o := Options{Target: target, Params: tiny()}
	o.setDefaults()
	ctx := context.Background()
	s, err := dial(ctx, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, wl := range Workloads() {
		if wl.Setup == nil {
			continue
		}
		if err := wl.Setup(ctx, s); err != nil {
			t.Fatalf("%s: first setup: %v", wl.Name, err)
		}
		before := s.calls()
		if err := wl.Setup(ctx, s); err != nil {
			t.Fatalf("%s: second setup: %v", wl.Name, err)
		}
		if got := s.calls() - before; got != 1 {
			t.Errorf("%s: second setup made %d calls; want 1 (the marker LOOKUP)", wl.Name, got)
		}
	}
	// SkipSetup on an empty server fails at Run, naming the workload.
	_, empty := startDemo(t)
	_, err = Run(ctx, Options{Target: empty, Params: tiny(), Workloads: []string{"stat"}, SkipSetup: true})
	if err == nil || !strings.Contains(err.Error(), "stat") {
		t.Errorf("SkipSetup without data: got %v; want an error naming stat", err)
	}
}

// TestVerifyCatchesWrongData also shows that a second Setup leaves an
// existing data set alone: it would otherwise rewrite the corrupted page.
func TestVerifyCatchesWrongData(t *testing.T) {
	d, target := startDemo(t)
	p := tiny()
	o := Options{Target: target, Params: p, Workloads: []string{"seqread"}}
	runT(t, o)
	f, err := d.FS.OpenFile("nfsbench/"+seqDataset(&p)+"/f000", 2 /* O_RDWR */, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(8192, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0xff, 0xee}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Run(context.Background(), o)
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("Run over corrupted data: got %v; want ErrVerify", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"ok", func(*Options) {}, ""},
		{"no host", func(o *Options) { o.Target.Host = "" }, "Target.Host"},
		{"relative export", func(o *Options) { o.Target.Export = "export" }, "Target.Export"},
		{"unaligned size", func(o *Options) { o.Params.Size = 1000 }, "Params.Size"},
		{"files do not split", func(o *Options) { o.Params.SeqFiles = 3 }, "Params.SeqFiles"},
		{"concurrency", func(o *Options) { o.Params.Concurrency = 5000 }, "Params.Concurrency"},
		{"dir", func(o *Options) { o.Params.Dir = "a/b" }, "Params.Dir"},
		{"workload", func(o *Options) { o.Workloads = []string{"nope"} }, "unknown workload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Target: Target{Host: "h", Export: "/e"}}
			tc.edit(&o)
			o.setDefaults()
			err := o.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: got %v; want %q", err, tc.want)
			}
		})
	}
}

func TestTreeShape(t *testing.T) {
	for _, n := range []int{0, 10, 30, 2000, 20000} {
		b, f := treeShape(n)
		got := treeEntries(n)
		if b < 2 || f < 1 || got != b+b*b+b*b*f {
			t.Errorf("treeShape(%d): got b=%d f=%d total %d", n, b, f, got)
		}
		if n >= 2000 && (got > n || got < n*9/10) {
			t.Errorf("treeEntries(%d): got %d; want within 10%% below", n, got)
		}
	}
}

func TestPattern(t *testing.T) {
	b := make([]byte, 3*pageSize)
	fill(b, 7, 8192)
	if err := check(b, 7, 8192); err != nil {
		t.Fatalf("check of fresh fill: %v", err)
	}
	for _, tc := range []struct {
		name     string
		key, off uint64
	}{{"other file", 8, 8192}, {"other offset", 7, 4096}} {
		if err := check(b, tc.key, tc.off); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: got %v; want ErrVerify", tc.name, err)
		}
	}
}

// TestUpstreamRatios runs against a fake metrics endpoint whose counters
// grow by a fixed step per scrape: Run scrapes once before and once after
// each timed run, so the deltas are one step.
func TestUpstreamRatios(t *testing.T) {
	_, target := startDemo(t)
	var mu sync.Mutex
	scrapes := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		scrapes++
		n := scrapes
		mu.Unlock()
		fmt.Fprintf(w, "# TYPE nfscacheproxy_upstream_calls_total counter\n")
		fmt.Fprintf(w, "nfscacheproxy_upstream_calls_total{proc=\"READ\"} %d\n", 2*n)
		fmt.Fprintf(w, "nfscacheproxy_upstream_calls_total{proc=\"GETATTR\"} %d\n", 1*n)
		fmt.Fprintf(w, "nfscacheproxy_upstream_read_bytes_total %d\n", (32<<10)*n)
	}))
	defer srv.Close()
	target.MetricsURL = srv.URL
	r := runT(t, Options{Target: target, Params: tiny(), Workloads: []string{"seqread"}}).Results[0]
	if r.Upstream == nil || r.Upstream.Calls != 3 || r.Upstream.ReadBytes != 32<<10 {
		t.Fatalf("upstream: got %+v; want 3 calls and 32 KiB", r.Upstream)
	}
	if v, ok := r.UpstreamBytesPerByte(); !ok || v != 0.5 {
		t.Errorf("bytes per byte: got %v, %v; want 0.5", v, ok)
	}
	if v, ok := r.UpstreamCallsPerCall(); !ok || v != 0.75 {
		t.Errorf("calls per call: got %v, %v; want 3/4", v, ok)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
