//go:build kernel

package kernel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
)

// TestKernelClient boots the Debian guest, mounts the proxy and ganesha
// with the Linux NFS client, runs a group of the suite against both (the
// direct run first, as the baseline) and fails when a test that passes
// directly does not pass through the proxy.
//
// Environment:
//
//	NFSCACHEPROXY_KERNEL_GROUP      suite group (default quick; auto = the full suite)
//	NFSCACHEPROXY_KERNEL_TESTS      explicit tests instead of a group, e.g. "001 009"
//	NFSCACHEPROXY_KERNEL_TARGETS    default "direct proxy"
//	NFSCACHEPROXY_KERNEL_COHERENCY  proxy coherency mode (default ttl, the proxy's default)
//	NFSCACHEPROXY_KERNEL_ACTIMEO    proxy --actimeo (default: the proxy's TTLs, at most 60s)
//	NFSCACHEPROXY_KERNEL_ACCEL      auto (default), kvm or tcg
//	NFSCACHEPROXY_KERNEL_CPUS       guest CPUs (default 1)
//	NFSCACHEPROXY_KERNEL_TIMEOUT    hard limit of the VM (default 30m for quick, 6h otherwise)
//	NFSCACHEPROXY_KERNEL_CACHE      guest cache directory (default /var/cache/nfscacheproxy-kernel)
//	NFSCACHEPROXY_KERNEL_KEEP=1     keep the run directory (console, results) even on success
func TestKernelClient(t *testing.T) {
	ctx := t.Context()
	group := envOr("NFSCACHEPROXY_KERNEL_GROUP", "quick")
	var tests []string
	if s := os.Getenv("NFSCACHEPROXY_KERNEL_TESTS"); s != "" {
		tests = strings.Fields(s)
	}
	targets := strings.Fields(envOr("NFSCACHEPROXY_KERNEL_TARGETS", "direct proxy"))
	mode := envOr("NFSCACHEPROXY_KERNEL_COHERENCY", "ttl")
	cpus, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_CPUS", "1"))
	defTimeout := "6h"
	if group == "quick" {
		defTimeout = "30m"
	}
	vmTimeout, err := time.ParseDuration(envOr("NFSCACHEPROXY_KERNEL_TIMEOUT", defTimeout))
	if err != nil {
		t.Fatalf("NFSCACHEPROXY_KERNEL_TIMEOUT: %v", err)
	}

	runDir, err := os.MkdirTemp("", "nfscacheproxy-kernel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("NFSCACHEPROXY_KERNEL_KEEP") == "1" {
			t.Logf("run directory kept: %s (console.log, share/out/<target>/)", runDir)
			return
		}
		os.RemoveAll(runDir)
	})
	log := &testLog{t: t}

	// The guest: built once, then cached.
	guest, err := EnsureGuest(ctx, GuestOptions{CacheDir: os.Getenv("NFSCACHEPROXY_KERNEL_CACHE"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if guest.Built {
		t.Logf("guest built in %v: %s (kernel %s)", guest.BuildTime.Round(time.Second), guest.Dir, guest.Version)
	} else {
		t.Logf("guest reused: %s (kernel %s)", guest.Dir, guest.Version)
	}

	// Ganesha with NLM (locks, test 014), and the proxy binary in front of it.
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{NLM: true})
	bin := filepath.Join(runDir, "nfscacheproxy")
	if err := BuildProxy(ctx, ".", bin); err != nil {
		t.Fatal(err)
	}
	flags, err := ServeFlags(bin)
	if err != nil {
		t.Fatal(err)
	}
	var actimeo time.Duration
	ttlMax := 0
	if d := os.Getenv("NFSCACHEPROXY_KERNEL_ACTIMEO"); d != "" {
		if actimeo, err = time.ParseDuration(d); err != nil || actimeo <= 0 {
			t.Fatalf("NFSCACHEPROXY_KERNEL_ACTIMEO=%s: want a positive duration", d)
		}
		ttlMax = int(actimeo.Seconds() + 0.999)
	}
	po := ProxyOptions{Bin: bin, UpstreamHost: g.Host, UpstreamExport: g.Export,
		UpstreamNFSPort: g.NFSPort, UpstreamMountPort: g.MountPort, LogPath: filepath.Join(runDir, "proxy.log")}
	metricsPort := 0
	var fwd []GuestFwd // the lock routes (see lockroute.go)
	if flags["config"] {
		// Configured like ganesha's export: no root squash (the proxy's
		// default squashes root), the data cache on, the chosen mode.
		if po.Port, err = FreePort(); err != nil {
			t.Fatal(err)
		}
		if metricsPort, err = FreePort(); err != nil {
			t.Fatal(err)
		}
		// Locking: the proxy's portmapper and NLM on fixed host ports,
		// reached by the guest at proxyLockServer (see lockroute.go).
		pmapPort, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		nlmPort, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		fwd = lockRoute(filepath.Join(runDir, "share"), proxyLockServer, pmapPort, po.Port, nlmPort)
		pc := ProxyConfig{Port: po.Port, UpstreamHost: g.Host, UpstreamExport: g.Export,
			UpstreamNFSPort: g.NFSPort, UpstreamMountPort: g.MountPort,
			CacheDir: filepath.Join(runDir, "proxy-cache"), Mode: mode, ACTimeo: actimeo, MetricsPort: metricsPort,
			PortmapPort: pmapPort, NLMPort: nlmPort}
		po.Config = filepath.Join(runDir, "proxy.yaml")
		if err := os.WriteFile(po.Config, []byte(pc.YAML()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(pc.CacheDir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else if mode != "ttl" || actimeo != 0 {
		t.Fatalf("NFSCACHEPROXY_KERNEL_COHERENCY/ACTIMEO need an nfscacheproxy with --config")
	}
	px, err := StartProxy(ctx, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	t.Logf("ganesha on %d/%d (NLM %d), proxy on %d, coherency mode %s, config %s", g.NFSPort, g.MountPort, g.NLMPort, px.Port, mode, po.Config)

	ctl, err := StartControl(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	ctl.OnRestart("proxy", px.Restart)
	ctl.OnRestart("direct", g.Restart)

	// Ganesha's lock route: its own portmapper naming its NLM.
	ups, upsPmap, err := StartUpstreamPortmap(g.NFSPort, g.MountPort, g.NLMPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ups.Close() })
	fwd = append(fwd, lockRoute(filepath.Join(runDir, "share"), upstreamLockServer, upsPmap, g.NFSPort, g.MountPort, g.NLMPort)...)

	upstream := Target{Name: "upstream", NFSPort: g.NFSPort, MountPort: g.MountPort, LockServer: upstreamLockServer}
	all := map[string]Target{
		"direct": {Name: "direct", NFSPort: g.NFSPort, MountPort: g.MountPort, Mode: "direct", LockServer: upstreamLockServer},
		"proxy":  {Name: "proxy", NFSPort: px.Port, MountPort: px.Port, Mode: mode},
	}
	if flags["config"] {
		p := all["proxy"]
		p.LockServer = proxyLockServer
		all["proxy"] = p
	}
	var ts []Target
	for _, name := range targets {
		tg, ok := all[name]
		if !ok {
			t.Fatalf("NFSCACHEPROXY_KERNEL_TARGETS: unknown target %q (want direct, proxy)", name)
		}
		ts = append(ts, tg)
	}
	share, err := NewShare(ctx, ShareOptions{Dir: filepath.Join(runDir, "share"), Upstream: upstream,
		Targets: ts, Export: g.Export, Group: group, Tests: tests, CtlPort: ctl.Port, TTLMax: ttlMax})
	if err != nil {
		t.Fatal(err)
	}

	console, err := os.Create(filepath.Join(runDir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	vm, err := NewVM(ctx, VMOptions{Guest: guest, ShareDir: share.Dir, Accel: os.Getenv("NFSCACHEPROXY_KERNEL_ACCEL"),
		CPUs: cpus, Timeout: vmTimeout, Console: &teeLines{file: console, log: log}, GuestFwd: fwd})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("booting the guest (%s, %d cpu, hard timeout %v), group %q %v, targets %v", vm.Accel(), cpus, vmTimeout, group, tests, targets)
	start := time.Now()
	runErr := vm.Run(ctx)
	t.Logf("guest ran for %v", time.Since(start).Round(time.Second))
	if runErr != nil {
		t.Error(runErr)
	}

	results := share.Results()
	report(t, share, results)
	if group == "quick" && tests == nil {
		// The quick group's promise: the kernel client locks through the
		// proxy (mounted without nolock), whatever the baseline did.
		for _, r := range results {
			if r.Target == "proxy" && r.Status(lockTest) != "pass" {
				t.Errorf("the lock test %s is %q through the proxy; want pass", lockTest, orNone(r.Status(lockTest)))
			}
		}
	}
	if metricsPort > 0 {
		// The kernel client ignores some errors (fsstress goes on after an
		// EIO): a request the proxy refused must show here, not vanish.
		rejected, err := rejectedRequests(ctx, metricsPort)
		switch {
		case err != nil:
			t.Errorf("read the proxy's rejection counters: %v", err)
		case rejected != 0:
			t.Errorf("the proxy refused %v requests of the kernel client (nfscacheproxy_rejected_requests_total, garbage_requests_total); want 0", rejected)
		default:
			t.Logf("the proxy refused none of the kernel client's requests")
		}
	}
	if t.Failed() {
		t.Logf("proxy log tail:\n%s", tail(filepath.Join(runDir, "proxy.log"), 20))
	}
}

// lockTest is the suite's lock test.
const lockTest = "014"

// report prints both summaries and a per-test table, and fails the test
// when a test that passed directly did not pass through the proxy (or a
// target produced no results at all).
func report(t *testing.T, share *Share, results []*TargetResult) {
	t.Helper()
	byName := map[string]*TargetResult{}
	var names []string
	seen := map[string]bool{}
	for _, r := range results {
		byName[r.Target] = r
		for _, tr := range r.Tests {
			if !seen[tr.Name] {
				seen[tr.Name] = true
				names = append(names, tr.Name)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s", "test")
	for _, r := range results {
		fmt.Fprintf(&b, "  %-22s", r.Target)
	}
	b.WriteString("\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%-5s", n)
		for _, r := range results {
			cell := "-"
			for _, tr := range r.Tests {
				if tr.Name == n {
					cell = fmt.Sprintf("%s %ds", tr.Status, tr.Seconds)
				}
			}
			fmt.Fprintf(&b, "  %-22s", cell)
		}
		b.WriteString("\n")
	}
	t.Logf("results:\n%s", b.String())
	for _, r := range results {
		t.Logf("summary %s", r.Summary)
		if r.Error != "" {
			t.Errorf("target %s: %s", r.Target, r.Error)
		}
		if len(r.Tests) == 0 {
			t.Errorf("target %s: no test results (see the console log)", r.Target)
		}
		for _, tr := range r.Tests {
			if tr.Status == "fail" {
				t.Logf("%s %s failed: %s\n%s", r.Target, tr.Name, tr.Reason, failureDetail(share, r.Target, tr.Name))
			}
		}
	}
	direct, proxy := byName["direct"], byName["proxy"]
	if direct != nil {
		if p, _, _ := direct.Counts(); p == 0 && len(direct.Tests) > 0 {
			t.Errorf("no test passed directly against ganesha: the suite or the guest is broken")
		}
	}
	if direct == nil && proxy != nil {
		// No baseline in this run (NFSCACHEPROXY_KERNEL_TARGETS=proxy, as
		// make kernel-modes runs cto and static): every test must pass.
		for _, tr := range proxy.Tests {
			if tr.Status == "fail" {
				t.Errorf("%s fails through the proxy (no direct baseline in this run): %s", tr.Name, tr.Reason)
			}
		}
	}
	if direct == nil || proxy == nil {
		return
	}
	for _, tr := range direct.Tests {
		switch ps := proxy.Status(tr.Name); {
		case tr.Status == "pass" && ps != "pass":
			t.Errorf("%s passes directly against ganesha but is %q through the proxy", tr.Name, orNone(ps))
		case tr.Status == "fail":
			t.Logf("note: %s fails directly against ganesha too (baseline): %s", tr.Name, tr.Reason)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "not run at all"
	}
	return s
}

// failureDetail returns the diff and the end of the .full file of a failed
// test.
func failureDetail(share *Share, target, test string) string {
	dir := share.ResultDir(target)
	var b strings.Builder
	if d, err := os.ReadFile(filepath.Join(dir, test+".out.diff")); err == nil && len(d) > 0 {
		fmt.Fprintf(&b, "--- output diff:\n%s", d)
	}
	fmt.Fprintf(&b, "--- %s.full (tail):\n%s", test, tail(filepath.Join(dir, test+".full"), 25))
	return b.String()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// testLog writes each line it is given to t.Log.
type testLog struct {
	t  *testing.T
	mu sync.Mutex // serializes partial-line buffering
	b  []byte
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	for {
		i := strings.IndexByte(string(l.b), '\n')
		if i < 0 {
			break
		}
		l.t.Log(string(l.b[:i]))
		l.b = l.b[i+1:]
	}
	return len(p), nil
}

// teeLines writes console lines to a file and to the test log.
type teeLines struct {
	file *os.File
	log  *testLog
}

func (w *teeLines) Write(p []byte) (int, error) {
	w.file.Write(p)
	return w.log.Write(p)
}

// rejectedRequests sums the proxy's counters of requests it refused for a
// protocol limit or bad name, and of GARBAGE_ARGS, from /metrics.
func rejectedRequests(ctx context.Context, port int) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	seen := false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "nfscacheproxy_rejected_requests_total") && !strings.HasPrefix(line, "nfscacheproxy_garbage_requests_total") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
		seen = true
	}
	if !seen {
		return 0, fmt.Errorf("no nfscacheproxy_garbage_requests_total in /metrics")
	}
	return sum, nil
}
