package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := cmdBench(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintf(os.Stderr, "nfscacheproxy-bench: %v\n", err)
		os.Exit(1)
	}
}

const benchUsage = `Usage:
  nfscacheproxy-bench --target HOST:PORT:/EXPORT [flags]   drive one NFSv3 server
  nfscacheproxy-bench --matrix [flags]                     the standard matrix (as root: it starts nfs-ganesha)
  nfscacheproxy-bench --soak [--duration D] [flags]        the soak: many clients against nfs-ganesha (restarted
                                                           now and then) through the proxy, with a small cache;
                                                           checks every byte and the proxy's goroutines and FDs
                                                           for growth (as root)

The matrix and the soak run the proxy binary named by --proxy-bin (default:
nfscacheproxy next to this binary, else on $PATH).

Workloads, and what one op is:
%s
Data sets are created once under /nfsbench in the export and kept.

Flags:
`

// benchFlags are the flags of `bench`.
type benchFlags struct {
	proxyArgs                            string
	target, host, export, metrics, label string
	nfsPort, mountPort                   int
	workloads                            string
	size, bs                             string
	p                                    bench.Params
	jsonOut, matrix, quiet, privPort     bool
	rtts                                 rttList
	write                                string
	soak                                 bool
	soakP                                bench.SoakParams
	cacheMax                             string
	proxyBin                             string
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.proxyBin, "proxy-bin", "", "matrix and soak: the nfscacheproxy binary to run (default: nfscacheproxy next to this binary, else on $PATH)")
	fs.StringVar(&f.proxyArgs, "proxy-args", "", "matrix and soak: extra serve flags for the proxy (space-separated), e.g. the coherency settings of the deployment being modelled (default none: the proxy as users get it)")
	fs.StringVar(&f.target, "target", "", "server as HOST:PORT:/EXPORT (PORT serves NFS and MOUNT) or HOST:/EXPORT (portmapper)")
	fs.StringVar(&f.host, "host", "", "server host (instead of --target)")
	fs.IntVar(&f.nfsPort, "nfs-port", 0, "NFS port (0: portmapper; overrides --target)")
	fs.IntVar(&f.mountPort, "mount-port", 0, "MOUNT port (0: the NFS port from --target, else portmapper)")
	fs.StringVar(&f.export, "export", "", "export path (instead of --target)")
	fs.StringVar(&f.metrics, "metrics", "", "the proxy's Prometheus URL, for upstream calls and bytes per client call and byte")
	fs.StringVar(&f.label, "label", "", "name of this configuration in the report (default HOST:PORT)")
	fs.StringVar(&f.workloads, "workloads", strings.Join(bench.Names(), ","), "comma-separated workloads to run")
	fs.StringVar(&f.size, "size", "256MiB", "seqread/seqwrite total size")
	fs.StringVar(&f.bs, "bs", "1MiB", "seqread/seqwrite block size")
	fs.IntVar(&f.p.SeqFiles, "seq-files", 1, "seqread/seqwrite files (1: the workers share one file)")
	fs.IntVar(&f.p.Files, "files", 2000, "stat: files")
	fs.IntVar(&f.p.Entries, "entries", 5000, "list: directory entries")
	fs.IntVar(&f.p.Listings, "listings", 8, "list: full listings")
	fs.IntVar(&f.p.TreeEntries, "tree", 2000, "walk: about this many entries in the tree")
	fs.IntVar(&f.p.SmallFiles, "smallfiles", 500, "smallfile: files created, written and removed")
	fs.IntVar(&f.p.RandReads, "randreads", 2000, "randread: 4 KiB reads")
	fs.IntVar(&f.p.Concurrency, "concurrency", 4, "workers (ops in flight)")
	fs.IntVar(&f.p.Conns, "conns", 1, "TCP connections of the client")
	fs.DurationVar(&f.p.Duration, "duration", 0, "bound each workload's timed run (0: none; mixed runs 5s); soak: how long the clients run (0: 1m)")
	fs.Int64Var(&f.p.MaxOps, "ops", 0, "bound each workload's ops (0: none)")
	fs.BoolVar(&f.privPort, "privileged-port", false, "bind a source port below 1024 (as root; for exports marked secure)")
	fs.BoolVar(&f.jsonOut, "json", false, "print JSON instead of a table")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress on stderr")
	fs.BoolVar(&f.matrix, "matrix", false, "run the standard matrix: ganesha direct near and far, the proxy cold and warm far (as root)")
	f.rtts = rttList{time.Millisecond, 10 * time.Millisecond}
	fs.Var(&f.rtts, "rtt", "matrix: comma-separated round trips the WAN relays add, one matrix each")
	fs.BoolVar(&f.soak, "soak", false, "run the soak (as root): --clients clients for --duration against nfs-ganesha through the proxy")
	fs.IntVar(&f.soakP.Clients, "clients", 16, "soak: concurrent clients, one TCP connection each")
	fs.StringVar(&f.cacheMax, "cache-max-size", "16MiB", "soak: the proxy's cache cap (below the data set, so culls run)")
	fs.DurationVar(&f.soakP.RestartEvery, "restart-every", 0, "soak: interval between upstream restarts (0: duration/5 within 5s..1m; negative: none)")
	fs.DurationVar(&f.soakP.Think, "think", 0, "soak: mean pause of a client between ops, to keep the CPU load moderate (0: 100ms)")
	fs.DurationVar(&f.soakP.SampleEvery, "sample-every", 0, "soak: interval between samples of the proxy's RSS, goroutines and FDs (0: duration/40 within 1s..10s)")
	fs.StringVar(&f.write, "write", "", `matrix: Markdown file whose matrix section is replaced (default BENCHMARKS.md; "-": none)`)
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchFlags
	fs := flag.NewFlagSet("nfscacheproxy-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		var wl strings.Builder
		for _, w := range bench.Workloads() {
			fmt.Fprintf(&wl, "  %-10s %s\n", w.Name, w.Doc)
		}
		fmt.Fprintf(stderr, benchUsage, wl.String())
		fs.PrintDefaults()
	}
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if f.p.Size, err = parseSize(f.size); err != nil {
		return fmt.Errorf("size: %w", err)
	}
	bs, err := parseSize(f.bs)
	if err != nil {
		return fmt.Errorf("bs: %w", err)
	}
	f.p.BlockSize = int(bs)
	var names []string
	for _, n := range strings.Split(f.workloads, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	progress, tty := io.Writer(nil), false
	if !f.quiet {
		progress, tty = stderr, isTerminal(stderr)
	}
	if f.soak {
		return benchSoak(ctx, &f, progress, tty, stdout)
	}
	if f.matrix {
		return benchMatrix(ctx, &f, names, progress, tty, stdout)
	}
	target, err := f.parseTarget()
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, bench.Options{
		Target: target, Label: f.label, Workloads: names, Params: f.p,
		Progress: progress, ProgressTTY: tty, PrivilegedPort: f.privPort,
	})
	if rep != nil && len(rep.Results) > 0 {
		if perr := printReport(stdout, f.jsonOut, rep); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

func printReport(w io.Writer, asJSON bool, rep *bench.Report) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return bench.WriteTable(w, rep.Results)
}

// proxyBinary returns the proxy binary the matrix and the soak run:
// --proxy-bin, else nfscacheproxy beside this binary, else on $PATH.
func (f *benchFlags) proxyBinary() (string, error) {
	if f.proxyBin != "" {
		return f.proxyBin, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "nfscacheproxy")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("nfscacheproxy")
	if err != nil {
		return "", fmt.Errorf("no proxy binary: give --proxy-bin (none beside this binary, and %w)", err)
	}
	return p, nil
}

// benchMatrix runs the matrix with the proxy binary (--proxy-bin).
func benchMatrix(ctx context.Context, f *benchFlags, names []string, progress io.Writer, tty bool, stdout io.Writer) error {
	if f.target != "" || f.host != "" {
		return errors.New("matrix: --target/--host do not apply: the matrix starts its own upstream")
	}
	if os.Geteuid() != 0 {
		return errors.New("matrix: must run as root (it starts nfs-ganesha and rpcbind)")
	}
	exe, err := f.proxyBinary()
	if err != nil {
		return fmt.Errorf("matrix: %w", err)
	}
	var ms []*bench.Matrix
	for _, rtt := range f.rtts {
		var m *bench.Matrix
		m, err = bench.RunMatrix(ctx, bench.MatrixOptions{
			Params: f.p, Workloads: names, RTT: rtt, Progress: progress, ProgressTTY: tty,
			StartProxy: func(ctx context.Context, up bench.Target) (bench.Proxy, error) {
				return bench.StartProxyProcess(ctx, bench.ProxyCommand{Path: exe, Upstream: up, ExtraArgs: strings.Fields(f.proxyArgs)})
			},
		})
		if m != nil && f.proxyArgs != "" {
			m.Notes = append(m.Notes, "proxy started with serve flags: "+f.proxyArgs)
		}
		if m != nil && len(m.Runs) > 0 {
			ms = append(ms, m)
		}
		if err != nil {
			break
		}
	}
	if len(ms) == 0 {
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = ms
		if len(f.rtts) == 1 {
			v = ms[0] // one matrix: the object, as before lists of RTTs
		}
		if jerr := enc.Encode(v); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		for i, m := range ms {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if terr := m.WriteText(stdout); terr != nil && err == nil {
				err = terr
			}
		}
	}
	if err != nil {
		return err // a partial matrix is printed, never written
	}
	path := f.write
	if path == "" {
		path = "BENCHMARKS.md"
	}
	if path != "-" {
		if err := bench.WriteSection(path, bench.MatricesMarkdown(ms)); err != nil {
			return err
		}
		fmt.Fprintf(progressOr(progress, stdout), "matrix written to %s\n", path)
	}
	return nil
}

// rttList is the --rtt flag: comma-separated positive durations.
type rttList []time.Duration

func (l *rttList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, d := range *l {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

func (l *rttList) Set(v string) error {
	var out rttList
	for _, f := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("%v: a round trip must be positive", d)
		}
		out = append(out, d)
	}
	*l = out
	return nil
}

// benchSoak runs the soak with the proxy binary (--proxy-bin). A failed soak
// prints its report and returns an error (a non-zero exit).
func benchSoak(ctx context.Context, f *benchFlags, progress io.Writer, tty bool, stdout io.Writer) error {
	switch {
	case f.matrix:
		return errors.New("soak: --matrix and --soak are separate runs")
	case f.target != "" || f.host != "":
		return errors.New("soak: --target/--host do not apply: the soak starts its own upstream")
	}
	cacheMax, err := parseSize(f.cacheMax)
	if err != nil {
		return fmt.Errorf("cache-max-size: %w", err)
	}
	p := f.soakP
	p.Duration, p.CacheMaxSize = f.p.Duration, cacheMax
	if d := p.WithDefaults(); d.Validate() != nil {
		return d.Validate()
	}
	if os.Geteuid() != 0 {
		return errors.New("soak: must run as root (it starts nfs-ganesha and rpcbind)")
	}
	exe, err := f.proxyBinary()
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	proxyArgs := strings.Fields(f.proxyArgs)
	res, err := bench.RunSoak(ctx, bench.SoakOptions{
		Params: p, Progress: progress, ProgressTTY: tty,
		StartProxy: func(ctx context.Context, up bench.Target, cacheMax int64) (bench.SoakProxy, error) {
			args := append(slices.Clone(proxyArgs), "--cache-max-size", strconv.FormatInt(cacheMax, 10))
			return bench.StartProxyProcess(ctx, bench.ProxyCommand{Path: exe, Upstream: up, ExtraArgs: args})
		},
	})
	if res == nil {
		return err
	}
	if f.proxyArgs != "" {
		res.Notes = append(res.Notes, "proxy started with serve flags: "+f.proxyArgs)
	}
	var perr error
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		perr = enc.Encode(res)
	} else {
		perr = res.WriteText(stdout)
	}
	return errors.Join(err, perr)
}

func progressOr(p, w io.Writer) io.Writer {
	if p != nil {
		return p
	}
	return w
}

// parseTarget builds the target from --target and the separate flags.
func (f *benchFlags) parseTarget() (bench.Target, error) {
	t := bench.Target{Host: f.host, Export: f.export, MetricsURL: f.metrics}
	if f.target != "" {
		i := strings.Index(f.target, ":/")
		if i <= 0 {
			return t, fmt.Errorf("target: %q is not HOST:PORT:/EXPORT or HOST:/EXPORT", f.target)
		}
		hostPort := f.target[:i]
		t.Export = f.target[i+1:]
		t.Host = hostPort
		if j := strings.LastIndex(hostPort, ":"); j >= 0 && !strings.HasSuffix(hostPort, "]") {
			port, err := strconv.Atoi(hostPort[j+1:])
			if err != nil || port <= 0 || port > 65535 {
				return t, fmt.Errorf("target: bad port in %q", f.target)
			}
			t.Host, t.NFSPort, t.MountPort = strings.Trim(hostPort[:j], "[]"), port, port
		}
		if f.host != "" {
			t.Host = f.host
		}
		if f.export != "" {
			t.Export = f.export
		}
	}
	if f.nfsPort != 0 {
		t.NFSPort = f.nfsPort
	}
	if f.mountPort != 0 {
		t.MountPort = f.mountPort
	}
	if t.Host == "" || t.Export == "" {
		return t, errors.New("target: required: --target HOST:PORT:/EXPORT, or --host and --export")
	}
	return t, nil
}

// parseSize reads a byte count with an optional binary suffix: 4096, 64KiB,
// 1MiB, 1G (K, M, G and the *iB forms are all powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size like 4096, 64KiB or 1GiB", s)
	}
	return n * mult, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
