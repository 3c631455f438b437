package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Soak is the outcome of RunSoak.
type Soak struct {
	Date     time.Time     `json:"date"`
	Took     time.Duration `json:"took_ns"`
	Machine  Machine       `json:"machine"`
	Upstream string        `json:"upstream"`
	Params   SoakParams    `json:"params"`

	Ops           SoakOps `json:"ops"`
	Restarts      int     `json:"upstream_restarts"`
	VerifiedBytes int64   `json:"verified_bytes"` // checked at the end, through the proxy and on disk
	// From the proxy's metrics at the end.
	Culls              float64 `json:"cache_culls"`
	UpstreamReconnects float64 `json:"upstream_reconnects"`
	CacheBytes         float64 `json:"cache_bytes"`

	Samples      []SoakSample `json:"samples"`
	SampleErrors []string     `json:"sample_errors,omitempty"`
	Series       []SoakSeries `json:"series"`

	Failures     []string `json:"failures,omitempty"`
	Notes        []string `json:"notes,omitempty"`
	ProxyLogTail string   `json:"proxy_log_tail,omitempty"`
}

// Passed reports whether the soak found nothing wrong.
func (s *Soak) Passed() bool { return len(s.Failures) == 0 }

// fail records a failure and returns it.
func (s *Soak) fail(err error) error {
	s.Failures = append(s.Failures, err.Error())
	return err
}

// SoakSample is one look at the proxy process.
type SoakSample struct {
	At         time.Duration `json:"at_ns"` // since the sampler started
	RSS        int64         `json:"rss_bytes"`
	FDs        int           `json:"fds"`
	Goroutines int           `json:"goroutines"`
	HeapInuse  int64         `json:"heap_inuse_bytes"` // go_memstats_heap_inuse_bytes; 0 if absent
	// MetaEntries is nfscacheproxy_meta_entries summed: the metadata
	// caches (bounded LRUs) grow with the names the run creates.
	MetaEntries int64 `json:"meta_entries"`
}

// SoakSeries summarises one quantity over the samples. Checked series fail
// the soak when SecondHalf exceeds FirstHalf (medians of the samples of
// each half of the run) by more than Tolerance.
type SoakSeries struct {
	Name       string  `json:"name"`
	First      float64 `json:"first"`
	Last       float64 `json:"last"`
	Min        float64 `json:"min"`
	Max        float64 `json:"max"`
	FirstHalf  float64 `json:"first_half_median"`
	SecondHalf float64 `json:"second_half_median"`
	Tolerance  float64 `json:"tolerance"`
	Checked    bool    `json:"checked"`
	OK         bool    `json:"ok"`
	Problem    string  `json:"problem,omitempty"`
}

// sampler samples a process every interval until stopped.
type sampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex // guards samples and errs
	samples []SoakSample
	errs    []string
}

func startSampler(ctx context.Context, pid int, metricsURL string, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			smp, err := sampleProcess(ctx, pid, metricsURL)
			smp.At = time.Since(start)
			s.mu.Lock()
			if err != nil {
				if ctx.Err() == nil && len(s.errs) < 20 {
					s.errs = append(s.errs, fmt.Sprintf("at %v: %v", smp.At.Round(time.Second), err))
				}
			} else {
				s.samples = append(s.samples, smp)
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the samples and the errors.
func (s *sampler) stop() ([]SoakSample, []string) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.errs
}

// sampleProcess reads pid's resident memory and open descriptors from /proc
// and its goroutines from its metrics (go_goroutines).
func sampleProcess(ctx context.Context, pid int, metricsURL string) (SoakSample, error) {
	var smp SoakSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return smp, err
	}
	if smp.RSS, err = vmRSS(string(status)); err != nil {
		return smp, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return smp, err
	}
	smp.FDs = len(fds)
	m, err := Scrape(ctx, metricsURL)
	if err != nil {
		return smp, err
	}
	g, ok := m["go_goroutines"]
	if !ok {
		return smp, errors.New("no go_goroutines in the metrics")
	}
	smp.Goroutines = int(g)
	smp.HeapInuse = int64(m["go_memstats_heap_inuse_bytes"])
	smp.MetaEntries = int64(m["nfscacheproxy_meta_entries"])
	return smp, nil
}

// vmRSS returns the VmRSS line of a /proc/PID/status in bytes.
func vmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// minHalfSamples is the fewest samples a half of the run needs to be judged.
const minHalfSamples = 3

// analyse builds the series and fails the soak on growth beyond tolerance.
// A soak stopped early by another failure is not judged on its samples.
func (s *Soak) analyse() {
	p := &s.Params
	judge := len(s.Failures) == 0
	s.Series = []SoakSeries{
		s.series("RSS (MiB)", func(x SoakSample) float64 { return float64(x.RSS) / (1 << 20) }, -1, false),
		s.series("Go heap in use (MiB)", func(x SoakSample) float64 { return float64(x.HeapInuse) / (1 << 20) }, -1, false),
		s.series("metadata cache entries", func(x SoakSample) float64 { return float64(x.MetaEntries) }, -1, false),
		s.series("goroutines", func(x SoakSample) float64 { return float64(x.Goroutines) }, float64(p.GoroutineSlack), judge),
		s.series("open FDs", func(x SoakSample) float64 { return float64(x.FDs) }, float64(p.FDSlack), judge),
	}
	for _, se := range s.Series {
		if se.Checked && !se.OK {
			s.fail(fmt.Errorf("%s: %s", se.Name, se.Problem))
		}
	}
}

// series summarises f over the samples and, when check is set, judges
// the growth from the first half to the second against slack.
func (s *Soak) series(name string, f func(SoakSample) float64, slack float64, check bool) SoakSeries {
	se := SoakSeries{Name: name, Checked: check, OK: true}
	var first, second []float64
	mid := s.Params.Duration / 2
	for i, x := range s.Samples {
		v := f(x)
		if i == 0 {
			se.First, se.Min, se.Max = v, v, v
		}
		se.Last, se.Min, se.Max = v, min(se.Min, v), max(se.Max, v)
		if x.At < mid {
			first = append(first, v)
		} else {
			second = append(second, v)
		}
	}
	se.FirstHalf, se.SecondHalf = median(first), median(second)
	if !check {
		return se
	}
	if len(first) < minHalfSamples || len(second) < minHalfSamples {
		se.OK = false
		se.Problem = fmt.Sprintf("%d and %d samples in the two halves; want at least %d each (lower the sample interval)", len(first), len(second), minHalfSamples)
		return se
	}
	se.Tolerance = math.Ceil(max(slack, se.FirstHalf*float64(s.Params.SlackPercent)/100))
	if se.SecondHalf > se.FirstHalf+se.Tolerance {
		se.OK = false
		se.Problem = fmt.Sprintf("grew from a median of %.0f in the first half to %.0f in the second (tolerance %.0f)", se.FirstHalf, se.SecondHalf, se.Tolerance)
	}
	return se
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

var soakHeader = []string{"proxy process", "first", "last", "min", "max", "1st-half median", "2nd-half median", "tolerance", "verdict"}

// WriteText writes the soak's summary and its table.
func (s *Soak) WriteText(w io.Writer) error {
	p := &s.Params
	o := &s.Ops
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %d clients for %v against %s restarted %d times, through the proxy with its cache capped at %s; took %v\n",
		p.Clients, p.Duration, s.Upstream, s.Restarts, fmtBytes(p.CacheMaxSize), s.Took.Round(time.Second))
	fmt.Fprintf(&b, "ops: %d reads (%s, every page checked), %d writes (%s, each read back), %d stats, %d listings, %d create/write/remove; %d calls retried; slowest op %s\n",
		o.Reads, fmtBytes(o.ReadBytes), o.Writes, fmtBytes(o.WriteBytes), o.Stats, o.Lists, o.Churns, o.Retries, fmtDur(o.Slowest))
	fmt.Fprintf(&b, "proxy: %.0f cache culls, %.0f upstream reconnects, %s cached at the end; %d samples every %v\n",
		s.Culls, s.UpstreamReconnects, fmtBytes(int64(s.CacheBytes)), len(s.Samples), p.SampleEvery)
	if s.VerifiedBytes > 0 {
		fmt.Fprintf(&b, "final check: %d shared and %d own files (%s) equal through the proxy and on the upstream's disk\n", p.Files, p.Clients, fmtBytes(s.VerifiedBytes))
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	one := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	var rows [][]string
	for _, se := range s.Series {
		f := num
		if strings.HasSuffix(se.Name, "(MiB)") {
			f = one
		}
		verdict, tol := "not checked", "-"
		switch {
		case se.Checked && se.OK:
			verdict, tol = "ok", "+"+f(se.Tolerance)
		case se.Checked && se.Tolerance > 0:
			verdict, tol = "GREW", "+"+f(se.Tolerance)
		case se.Checked:
			verdict = "too few samples"
		}
		rows = append(rows, []string{se.Name, f(se.First), f(se.Last), f(se.Min), f(se.Max), f(se.FirstHalf), f(se.SecondHalf), tol, verdict})
	}
	if err := writeAligned(w, soakHeader, rows, 1); err != nil {
		return err
	}
	var tail strings.Builder
	for _, e := range s.SampleErrors {
		fmt.Fprintf(&tail, "sample error: %s\n", e)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&tail, "note: %s\n", n)
	}
	if s.Passed() {
		tail.WriteString("\nPASS\n")
	} else {
		tail.WriteString("\nFAIL\n")
		for _, f := range s.Failures {
			fmt.Fprintf(&tail, "  %s\n", f)
		}
		if s.ProxyLogTail != "" {
			fmt.Fprintf(&tail, "last lines of the proxy's log:\n%s\n", s.ProxyLogTail)
		}
	}
	_, err := io.WriteString(w, tail.String())
	return err
}
