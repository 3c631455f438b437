package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/integration/wanrelay"
)

// The configurations of the matrix, in order.
const (
	DirectNear   = "direct-near"    // client → ganesha
	DirectFar    = "direct-far"     // client → WAN relays → ganesha
	ProxyColdFar = "proxy-cold-far" // client → proxy → WAN relays → ganesha, first pass
	ProxyWarmFar = "proxy-warm-far" // the same proxy, second pass over the same data
)

// Proxy is a running proxy under test.
type Proxy interface {
	Target() Target
	Notes() []string
	Close() error
}

var _ Proxy = (*ProxyProcess)(nil)

// MatrixOptions configures RunMatrix.
type MatrixOptions struct {
	Params    Params
	Workloads []string // default: all
	// RTT is the round trip the relays add (default 10ms: 5ms each way).
	RTT time.Duration
	// StartProxy starts a proxy whose upstream is the far side. Nil: only
	// the direct configurations run.
	StartProxy func(ctx context.Context, upstream Target) (Proxy, error)

	Progress    io.Writer
	ProgressTTY bool
	Logger      *slog.Logger
}

// Matrix is the outcome of RunMatrix.
type Matrix struct {
	Date     time.Time     `json:"date"`
	Took     time.Duration `json:"took_ns"`
	Machine  Machine       `json:"machine"`
	Upstream string        `json:"upstream"`
	RTT      time.Duration `json:"rtt_ns"`
	Params   Params        `json:"params"`
	Runs     []Report      `json:"runs"`
	Ratios   []Ratio       `json:"ratios"`
	Notes    []string      `json:"notes,omitempty"`
}

// Ratio compares throughput (ops/s; for seqread and seqwrite the same as
// MB/s) between configurations: above 1 the first is faster. Zero: a
// configuration is missing.
type Ratio struct {
	Workload         string  `json:"workload"`
	WarmVsDirectFar  float64 `json:"warm_vs_direct_far"`
	WarmVsDirectNear float64 `json:"warm_vs_direct_near"`
	ColdVsDirectFar  float64 `json:"cold_vs_direct_far"`
}

// RunMatrix starts nfs-ganesha on a fresh export (it must run as root),
// a WAN relay pair in front of its NFS and MOUNT ports, sets the data up
// once through the near path, and runs the workloads in every configuration.
// Everything it started is stopped before it returns; on error the matrix so
// far is returned with it.
func RunMatrix(ctx context.Context, o MatrixOptions) (*Matrix, error) {
	if o.RTT == 0 {
		o.RTT = 10 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Params.setDefaults()
	if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	if len(o.Workloads) == 0 {
		o.Workloads = Names()
	}
	if _, err := Find(o.Workloads); err != nil {
		return nil, err
	}
	m := &Matrix{Date: time.Now().UTC(), Machine: DescribeMachine(ctx), RTT: o.RTT, Params: o.Params}
	start := time.Now()
	defer func() {
		m.Took = time.Since(start)
		m.Ratios = m.ratios()
	}()
	po := Options{Progress: o.Progress, ProgressTTY: o.ProgressTTY}
	say := po.progressf // on a terminal the next line overwrites it
	defer po.progressDone()

	say("starting nfs-ganesha…")
	g, err := harness.StartGanesha(ctx, harness.GaneshaOptions{})
	if err != nil {
		return m, fmt.Errorf("bench: matrix: %w", err)
	}
	defer g.Close()
	m.Upstream = ganeshaVersion(ctx) + " (FSAL VFS)"
	near := Target{Host: g.Host, NFSPort: g.NFSPort, MountPort: g.MountPort, Export: g.Export}

	nfsRelay, err := wanrelay.Start(wanrelay.Options{Target: g.NFSAddr(), Delay: o.RTT / 2, Logger: o.Logger})
	if err != nil {
		return m, fmt.Errorf("bench: matrix: %w", err)
	}
	defer nfsRelay.Close()
	mountRelay, err := wanrelay.Start(wanrelay.Options{Target: g.MountAddr(), Delay: o.RTT / 2, Logger: o.Logger})
	if err != nil {
		return m, fmt.Errorf("bench: matrix: %w", err)
	}
	defer mountRelay.Close()
	far := Target{Host: "127.0.0.1", NFSPort: nfsRelay.Port(), MountPort: mountRelay.Port(), Export: g.Export}

	run := func(label string, t Target, skipSetup bool) error {
		rep, err := Run(ctx, Options{
			Target: t, Label: label, Workloads: o.Workloads, Params: o.Params, SkipSetup: skipSetup,
			Progress: o.Progress, ProgressTTY: o.ProgressTTY, Logger: o.Logger,
		})
		if rep != nil && len(rep.Results) > 0 {
			m.Runs = append(m.Runs, *rep)
		}
		return err
	}
	if err := run(DirectNear, near, false); err != nil {
		return m, err
	}
	if err := run(DirectFar, far, true); err != nil {
		return m, err
	}
	if o.StartProxy == nil {
		m.Notes = append(m.Notes, "no proxy configurations: no way to start the proxy was given")
		return m, nil
	}
	say("starting the proxy…")
	p, err := o.StartProxy(ctx, far)
	if err != nil {
		return m, fmt.Errorf("bench: matrix: start proxy: %w", err)
	}
	m.Notes = append(m.Notes, p.Notes()...)
	err = run(ProxyColdFar, p.Target(), true)
	if err == nil {
		err = run(ProxyWarmFar, p.Target(), true)
	}
	if lt, ok := p.(interface{ LogTail(int) string }); ok && err != nil {
		err = fmt.Errorf("%w\nlast lines of the proxy's log:\n%s", err, lt.LogTail(15))
	}
	if cerr := p.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return m, err
}

// ganeshaVersion returns "nfs-ganesha V4.3", or "nfs-ganesha".
func ganeshaVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ganesha.nfsd", "-v").CombinedOutput()
	if _, v, ok := strings.Cut(string(out), "Release = "); ok {
		return "nfs-ganesha " + strings.TrimSpace(strings.SplitN(v, "\n", 2)[0])
	}
	return "nfs-ganesha"
}

// result returns the result of workload in configuration label, or nil.
func (m *Matrix) result(label, workload string) *Result {
	for i := range m.Runs {
		if m.Runs[i].Label != label {
			continue
		}
		for j := range m.Runs[i].Results {
			if r := &m.Runs[i].Results[j]; r.Workload == workload {
				return r
			}
		}
	}
	return nil
}

// workloads returns the workload names in the order first run.
func (m *Matrix) workloads() []string {
	var names []string
	seen := map[string]bool{}
	for _, rep := range m.Runs {
		for _, r := range rep.Results {
			if !seen[r.Workload] {
				seen[r.Workload] = true
				names = append(names, r.Workload)
			}
		}
	}
	return names
}

func (m *Matrix) ratios() []Ratio {
	speed := func(label, w string) float64 {
		if r := m.result(label, w); r != nil {
			return r.OpsPerSec()
		}
		return 0
	}
	div := func(a, b float64) float64 {
		if a == 0 || b == 0 {
			return 0
		}
		return a / b
	}
	var out []Ratio
	for _, w := range m.workloads() {
		warm, cold := speed(ProxyWarmFar, w), speed(ProxyColdFar, w)
		out = append(out, Ratio{
			Workload:         w,
			WarmVsDirectFar:  div(warm, speed(DirectFar, w)),
			WarmVsDirectNear: div(warm, speed(DirectNear, w)),
			ColdVsDirectFar:  div(cold, speed(DirectFar, w)),
		})
	}
	return out
}

// rows returns the results grouped by workload, configurations in order.
func (m *Matrix) rows() [][]string {
	var rows [][]string
	for _, w := range m.workloads() {
		for _, label := range []string{DirectNear, DirectFar, ProxyColdFar, ProxyWarmFar} {
			if r := m.result(label, w); r != nil {
				rows = append(rows, row(r))
			}
		}
	}
	return rows
}

var ratioHeader = []string{"workload", "warm/direct-far", "warm/direct-near", "cold/direct-far"}

func (m *Matrix) ratioRows() [][]string {
	f := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", v)
	}
	var rows [][]string
	for _, r := range m.Ratios {
		rows = append(rows, []string{r.Workload, f(r.WarmVsDirectFar), f(r.WarmVsDirectNear), f(r.ColdVsDirectFar)})
	}
	return rows
}

// WriteText writes the matrix and its ratios as aligned text tables.
func (m *Matrix) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s, RTT %v to the upstream for the far configurations; took %v\n\n", m.Upstream, m.RTT, m.Took.Round(time.Second))
	if err := writeAligned(w, tableHeader, m.rows(), 2); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThroughput ratios (ops/s; above 1 the first is faster):\n\n")
	if err := writeAligned(w, ratioHeader, m.ratioRows(), 1); err != nil {
		return err
	}
	for _, n := range m.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// Markdown returns the body of the BENCHMARKS.md section.
func (m *Matrix) Markdown() string { return MatricesMarkdown([]*Matrix{m}) }

// MatricesMarkdown returns the body of the BENCHMARKS.md section for
// matrices run one after the other (one per round trip): one heading, then
// each matrix under a subheading naming its round trip.
func MatricesMarkdown(ms []*Matrix) string {
	var b strings.Builder
	b.WriteString("## Benchmark matrix\n\n")
	for i, m := range ms {
		if len(ms) > 1 {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "### %v round trip to the far upstream\n\n", m.RTT)
		}
		m.markdownBody(&b)
	}
	return b.String()
}

func (m *Matrix) markdownBody(b *strings.Builder) {
	mc := m.Machine
	fmt.Fprintf(b, "Written by `nfscacheproxy-bench --matrix` (`make bench`) on %s, commit `%s`, %s; the run took %v.\n\n",
		m.Date.Format("2006-01-02 15:04 MST"), mc.Commit, mc.GoVersion, m.Took.Round(time.Second))
	fmt.Fprintf(b, "- Machine: %d × %s, %s memory, Linux %s.\n", mc.CPUs, orUnknown(mc.CPUModel), fmtBytes(mc.MemBytes), orUnknown(mc.Kernel))
	fmt.Fprintf(b, "- Upstream: %s, on loopback.\n", m.Upstream)
	fmt.Fprintf(b, "- Far: a user-space WAN relay (integration/wanrelay) adds %v each way (%v round trip) in front of the upstream's NFS and MOUNT ports; the proxy sits next to the client, the relay between the proxy and the upstream.\n", m.RTT/2, m.RTT)
	fmt.Fprintf(b, "- The data sets are created once through the near path, untimed, before any run, so the upstream's own caches are warm in every configuration; the proxy starts with an empty cache (cold) and is measured again on a second pass (warm).\n")
	fmt.Fprintf(b, "- Client: our NFSv3 client (upstream.Client), AUTH_SYS root. Parameters: %s.\n", m.Params.Describe())
	fmt.Fprintf(b, "- Columns: calls = client NFS calls; items = directory entries seen; MB = 10⁶ bytes; p50/p99 per op; up calls/call = proxy upstream calls per client call, up B/B = upstream read bytes per client read byte (from the proxy's Prometheus counters).\n\n")
	writeMarkdownTable(b, tableHeader, m.rows(), 2)
	fmt.Fprintf(b, "\nThroughput ratios (ops/s; above 1 the first configuration is faster):\n\n")
	writeMarkdownTable(b, ratioHeader, m.ratioRows(), 1)
	if len(m.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range m.Notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Describe summarises the parameters in one line.
func (p Params) Describe() string {
	p.setDefaults()
	conns := "connection"
	if p.Conns > 1 {
		conns = "connections"
	}
	dur := "none"
	if p.Duration > 0 {
		dur = p.Duration.String()
	}
	mixed := p.Duration
	if mixed == 0 {
		mixed = DefaultMixedDuration
	}
	return fmt.Sprintf("concurrency %d over %d TCP %s; seqread/seqwrite %s in %s blocks over %d file(s); "+
		"randread %d × %s in a %s file; stat %d files; list %d listings of %d entries (READDIRPLUS dircount %s, maxcount %s); "+
		"walk %d entries; smallfile %d × %s; mixed %d × %s files, %s I/O, for %v; duration bound %s",
		p.Concurrency, p.Conns, conns, fmtBytes(p.Size), fmtBytes(int64(p.BlockSize)), p.SeqFiles,
		p.RandReads, fmtBytes(int64(p.RandIO)), fmtBytes(p.RandFileSize), p.Files, p.Listings, p.Entries,
		fmtBytes(int64(p.DirCount)), fmtBytes(int64(p.MaxCount)),
		treeEntries(p.TreeEntries), p.SmallFiles, fmtBytes(int64(p.SmallFileSize)),
		p.MixedFiles, fmtBytes(p.MixedFileSize), fmtBytes(int64(p.MixedIO)), mixed, dur)
}
