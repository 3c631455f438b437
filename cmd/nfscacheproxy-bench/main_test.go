package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/bench"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
)

// tinyArgs keeps every workload small.
var tinyArgs = []string{
	"--size", "64KiB", "--bs", "16KiB", "--files", "5", "--entries", "12", "--listings", "2",
	"--tree", "20", "--smallfiles", "3", "--randreads", "8", "--concurrency", "2",
	"--duration", "300ms", "--quiet",
}

// startDemo serves a temporary directory: go-billy's memfs is not safe for
// the concurrent requests of the proxy's several upstream connections.
func startDemo(t *testing.T) int {
	t.Helper()
	d, err := demoserver.Start(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.Port()
}

// binDir holds the proxy binary proxyBinary builds; TestMain removes it.
var binDir string

// proxyBinary builds cmd/nfscacheproxy once per test binary run: this
// command runs the proxy as a child process, as the matrix and the soak do.
var proxyBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nfscacheproxy-bench-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "nfscacheproxy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nfscacheproxy/nfscacheproxy/cmd/nfscacheproxy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startProxy runs the proxy binary's `serve` in front of the demo server,
// through its flags (the stable interface), and returns once it answers
// MNT and NULL.
func startProxy(t *testing.T, upPort int) int {
	t.Helper()
	bin, err := proxyBinary()
	if err != nil {
		t.Fatal(err)
	}
	p, err := bench.StartProxyProcess(t.Context(), bench.ProxyCommand{Path: bin,
		Upstream:  bench.Target{Host: "127.0.0.1", Export: "/export", NFSPort: upPort, MountPort: upPort},
		ExtraArgs: []string{"--log-level", "error"}, StartTimeout: await.Deadline})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	return p.Target().NFSPort
}

func benchT(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if err := cmdBench(ctx, append(args, tinyArgs...), &out, &errb); err != nil {
		t.Fatalf("bench %v: %v\nstderr: %s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

func TestBenchTable(t *testing.T) {
	port := startDemo(t)
	out, _ := benchT(t, "--target", fmt.Sprintf("127.0.0.1:%d:/export", port), "--label", "demo")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+len(bench.Names()) {
		t.Fatalf("table: got %d lines; want a header and %d rows:\n%s", len(lines), len(bench.Names()), out)
	}
	for i, name := range bench.Names() {
		if f := strings.Fields(lines[i+1]); len(f) < 2 || f[0] != name || f[1] != "demo" {
			t.Errorf("row %d: got %q; want workload %s, config demo", i, lines[i+1], name)
		}
	}
}

func TestBenchJSONThroughProxy(t *testing.T) {
	port := startProxy(t, startDemo(t))
	out, _ := benchT(t, "--host", "127.0.0.1", "--nfs-port", fmt.Sprint(port), "--mount-port", fmt.Sprint(port),
		"--export", "/export", "--workloads", "seqread,stat", "--json")
	var rep struct {
		Results []struct {
			Workload  string  `json:"workload"`
			Ops       int64   `json:"ops"`
			ReadBytes int64   `json:"read_bytes"`
			P50       float64 `json:"p50_ms"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(rep.Results) != 2 || rep.Results[0].Workload != "seqread" || rep.Results[0].ReadBytes != 64<<10 ||
		rep.Results[1].Workload != "stat" || rep.Results[1].Ops != 5 || rep.Results[1].P50 <= 0 {
		t.Errorf("results: got %+v; want seqread of 64 KiB and 5 stats", rep.Results)
	}
}

func TestBenchFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no target", nil, "target: required"},
		{"bad target", []string{"--target", "nohost"}, "not HOST:PORT:/EXPORT"},
		{"bad port", []string{"--target", "h:99999:/e"}, "bad port"},
		{"bad size", []string{"--target", "h:1:/e", "--size", "lots"}, "size:"},
		{"unknown workload", []string{"--target", "h:1:/e", "--workloads", "seqread,nope"}, "unknown workload"},
		{"matrix with target", []string{"--matrix", "--target", "h:1:/e"}, "do not apply"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
		{"bad rtt", []string{"--matrix", "--rtt", "1ms,soon"}, `invalid value "1ms,soon" for flag -rtt`},
		{"zero rtt", []string{"--matrix", "--rtt", "0s"}, "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cmdBench(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRTTList(t *testing.T) {
	var l rttList
	if err := l.Set("1ms, 10ms,250ms"); err != nil {
		t.Fatal(err)
	}
	if want := (rttList{time.Millisecond, 10 * time.Millisecond, 250 * time.Millisecond}); !slices.Equal(l, want) {
		t.Errorf("Set: %v; want %v", l, want)
	}
	if got := l.String(); got != "1ms,10ms,250ms" {
		t.Errorf("String: %q", got)
	}
	var f benchFlags
	f.register(flag.NewFlagSet("x", flag.ContinueOnError))
	if got := f.rtts.String(); got != "1ms,10ms" {
		t.Errorf("default --rtt %q; want 1ms,10ms (the issue's two round trips)", got)
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		f    benchFlags
		want bench.Target
	}{
		{benchFlags{target: "127.0.0.1:2049:/export"}, bench.Target{Host: "127.0.0.1", NFSPort: 2049, MountPort: 2049, Export: "/export"}},
		{benchFlags{target: "srv:/data/x"}, bench.Target{Host: "srv", Export: "/data/x"}},
		{benchFlags{target: "[::1]:2049:/e"}, bench.Target{Host: "::1", NFSPort: 2049, MountPort: 2049, Export: "/e"}},
		{benchFlags{target: "h:2049:/e", mountPort: 20048, metrics: "http://m/metrics"}, bench.Target{Host: "h", NFSPort: 2049, MountPort: 20048, Export: "/e", MetricsURL: "http://m/metrics"}},
		{benchFlags{host: "h", nfsPort: 1, mountPort: 2, export: "/e"}, bench.Target{Host: "h", NFSPort: 1, MountPort: 2, Export: "/e"}},
	}
	for _, tc := range tests {
		got, err := tc.f.parseTarget()
		if err != nil || got != tc.want {
			t.Errorf("parseTarget(%+v): got %+v, %v; want %+v", tc.f, got, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4096", 4096, true}, {"64KiB", 64 << 10, true}, {"1MiB", 1 << 20, true}, {"256M", 256 << 20, true},
		{"1 GiB", 1 << 30, true}, {"12B", 12, true}, {"1.5M", 0, false}, {"-1", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q): got %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestBenchSoakFlagErrors: the soak's flags are checked before anything
// starts.
func TestBenchSoakFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"with matrix", []string{"--soak", "--matrix"}, "separate runs"},
		{"with target", []string{"--soak", "--target", "h:1:/e"}, "do not apply"},
		{"with host", []string{"--soak", "--host", "h"}, "do not apply"},
		{"bad cache size", []string{"--soak", "--cache-max-size", "lots"}, "cache-max-size"},
		{"no clients", []string{"--soak", "--clients", "-2"}, "Clients"},
		{"short", []string{"--soak", "--duration", "10ms"}, "Duration"},
		{"negative think", []string{"--soak", "--think", "-1s"}, "Think"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cmdBench(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
