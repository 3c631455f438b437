package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/spf13/pflag"
	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/config"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// minimal is the smallest valid configuration file.
const minimal = `
volumes:
  - id: 1
    upstream: "filer:/export"
`

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs the command line in-process and returns its exit code,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs args and fails unless the exit code is want.
func mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != want {
		t.Fatalf("%q: exit %d; want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, out, errs)
	}
	return out
}

// TestCLIHelpExitsZero: -h and --help print the command's usage on stdout
// and exit 0 on every command and subcommand; `help CMD` too.
func TestCLIHelpExitsZero(t *testing.T) {
	cmds := [][]string{{}, {"serve"}, {"demo"}, {"cache"}, {"cache", "stats"}, {"cache", "check"}, {"cache", "cull"},
		{"cache", "warm"}, {"cache", "invalidate"}, {"version"}, {"health"}, {"completion"}, {"completion", "bash"}}
	for _, c := range cmds {
		for _, h := range []string{"--help", "-h"} {
			args := append(slices.Clone(c), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				if out := mustRun(t, exitOK, args...); !strings.Contains(out, "Usage:") {
					t.Errorf("%q: got %q; want a usage text", args, out)
				}
			})
		}
	}
	if out := mustRun(t, exitOK, "help", "cache"); !strings.Contains(out, "nfscacheproxy cache [command]") {
		t.Errorf("help cache: got %q; want the cache usage", out)
	}
}

// TestCLIEverySubcommandListed: the help names every subcommand.
func TestCLIEverySubcommandListed(t *testing.T) {
	root := mustRun(t, exitOK, "--help")
	for _, sub := range []string{"serve", "demo", "cache", "version", "health", "completion"} {
		if !strings.Contains(root, "\n  "+sub+" ") {
			t.Errorf("nfscacheproxy --help does not list %q:\n%s", sub, root)
		}
	}
	cache := mustRun(t, exitOK, "cache", "--help")
	for _, sub := range []string{"stats", "check", "cull", "warm", "invalidate"} {
		if !strings.Contains(cache, "\n  "+sub+" ") {
			t.Errorf("nfscacheproxy cache --help does not list %q:\n%s", sub, cache)
		}
	}
}

// TestCLIUsageErrors: mistakes on the command line exit 2 and say what
// was wrong.
func TestCLIUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "which subcommand"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"serve", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"serve", "extra"}, `unknown command "extra"`},
		{[]string{"cache"}, "which cache subcommand"},
		{[]string{"cache", "stats"}, "--dir: required"},
		{[]string{"cache", "cull", "--dir", "/nonexistent"}, "--to: required"},
		{[]string{"cache", "cull", "--dir", "/nonexistent", "--to", "lots"}, "--to:"},
		{[]string{"cache", "stats", "--dir", "/nonexistent", "-o", "yaml"}, `"yaml" is not text or json`},
		{[]string{"cache", "warm"}, "at least one PATH"},
		{[]string{"version", "-o", "xml"}, `"xml" is not text or json`},
		{[]string{"health", "--metrics", "nocolon"}, "is not HOST:PORT"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, exitUsage, tc.want)
			}
		})
	}
}

// TestCLIVersion: version exits 0 and names the module version (or
// "(devel)") and the VCS revision the build stamped, if any.
func TestCLIVersion(t *testing.T) {
	want := readBuildVersion()
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && want.Version != bi.Main.Version {
		t.Errorf("version %q; want the build info's %q", want.Version, bi.Main.Version)
	}
	out := mustRun(t, exitOK, "version")
	if !strings.HasPrefix(out, "nfscacheproxy "+want.Version+"\n") {
		t.Errorf("version: got %q; want it to start with nfscacheproxy %s", out, want.Version)
	}
	if want.Revision != "" && !strings.Contains(out, "revision "+want.Revision) {
		t.Errorf("version: got %q; want revision %s", out, want.Revision)
	}
	if want.Revision == "" && (want.Version != "(devel)" || !strings.Contains(out, "revision unknown")) {
		t.Errorf("version without a VCS stamp: got %q; want (devel) and revision unknown", out)
	}
	var got buildVersion
	if err := json.Unmarshal([]byte(mustRun(t, exitOK, "version", "-o", "json")), &got); err != nil || got != want {
		t.Errorf("version -o json: got %+v, %v; want %+v", got, err, want)
	}
}

// TestCLISingleDashFlags: the one-dash long flags of the old command line
// still work.
func TestCLISingleDashFlags(t *testing.T) {
	code, _, errs := runCLI(t, "cache", "stats", "-dir", filepath.Join(t.TempDir(), "none"))
	if code != exitFailure || !strings.Contains(errs, "read stats") {
		t.Errorf("cache stats -dir: exit %d, %q; want the stats of the directory attempted", code, errs)
	}
}

// TestCLIHealth: health exits 0 when /healthz answers 200 and 1 with the
// reason otherwise; without --metrics it asks the configured listener.
func TestCLIHealth(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	mustRun(t, exitOK, "health", "--metrics", addr)
	mustRun(t, exitOK, "health", "--metrics", srv.URL)
	cfg := writeConfig(t, "metrics: { listen: \""+addr+"\" }\n"+minimal)
	mustRun(t, exitOK, "health", "--config", cfg)

	status.Store(http.StatusServiceUnavailable)
	code, _, errs := runCLI(t, "health", "--metrics", addr)
	if code != exitFailure || !strings.Contains(errs, "503") {
		t.Errorf("health against a 503: exit %d, %q; want 1 naming the status", code, errs)
	}
	srv.Close()
	if code, _, errs := runCLI(t, "health", "--metrics", addr); code != exitFailure || !strings.Contains(errs, "unhealthy") {
		t.Errorf("health with nothing listening: exit %d, %q; want 1, unhealthy", code, errs)
	}
}

func TestHealthURL(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		f    healthFlags
		env  map[string]string
		want string
	}{
		{healthFlags{}, nil, "http://127.0.0.1:9102/healthz"},
		{healthFlags{metrics: ":9200"}, nil, "http://127.0.0.1:9200/healthz"},
		{healthFlags{metrics: "[::]:9200"}, nil, "http://[::1]:9200/healthz"},
		{healthFlags{metrics: "10.0.0.1:9200"}, nil, "http://10.0.0.1:9200/healthz"},
		{healthFlags{metrics: "https://m.example/x/"}, nil, "https://m.example/x/healthz"},
		{healthFlags{}, map[string]string{envMetricsListen: "0.0.0.0:9300"}, "http://127.0.0.1:9300/healthz"},
	}
	for _, tc := range tests {
		if got, err := tc.f.healthURL(env(tc.env)); got != tc.want || err != nil {
			t.Errorf("healthURL(%+v, %v): got %q, %v; want %q", tc.f, tc.env, got, err, tc.want)
		}
	}
}

func TestParseVolumeKey(t *testing.T) {
	tests := []struct {
		key  string
		want volumeName
	}{
		{"nfs,127.0.0.1,%2Fexport,1", volumeName{Key: "nfs,127.0.0.1,%2Fexport,1", Server: "127.0.0.1", Export: "/export", ID: 1}},
		{"nfs,filer,%2Fa%2Cb,65535", volumeName{Key: "nfs,filer,%2Fa%2Cb,65535", Server: "filer", Export: "/a,b", ID: 65535}},
		{"nfs,filer,%2Fa,7~0123456789abcdef", volumeName{Key: "nfs,filer,%2Fa,7~0123456789abcdef"}},
		{"other", volumeName{Key: "other"}},
	}
	for _, tc := range tests {
		if got := parseVolumeKey(tc.key); got != tc.want {
			t.Errorf("parseVolumeKey(%q): got %+v; want %+v", tc.key, got, tc.want)
		}
	}
}

// testProxy is a proxy served in-process in front of the demo upstream.
type testProxy struct {
	a        *app
	upDir    string
	cacheDir string
	stop     func()
	log      *lockedBuffer
	hup      chan os.Signal
	onHUP    func(*app) // set before sending on hup
}

// lockedBuffer is a log the proxy writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTestProxy serves a temporary directory holding hello.txt through
// the proxy, with a data cache, on loopback ports.
func startTestProxy(t *testing.T, configure ...func(*Config)) *testProxy {
	t.Helper()
	p := &testProxy{upDir: t.TempDir(), cacheDir: t.TempDir(), log: &lockedBuffer{}, hup: make(chan os.Signal)}
	if err := os.WriteFile(filepath.Join(p.upDir, "hello.txt"), []byte(demoText), 0o644); err != nil {
		t.Fatal(err)
	}
	up, err := demoserver.Start(p.upDir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.Metrics.Listen, cfg.Cache.Dir = "127.0.0.1:0", "127.0.0.1:0", p.cacheDir
	cfg.Upstream.UnprivilegedPort = true
	v := DefaultVolume()
	v.ID, v.Upstream, v.NFSPort, v.MountPort = 1, "127.0.0.1:/export", up.Port(), up.Port()
	v.Clients = []string{"127.0.0.0/8"}
	cfg.Volumes = []VolumeConfig{v}
	for _, f := range configure {
		f(cfg)
	}
	if err := cfg.Validate(); err != nil {
		up.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.a, err = newApp(ctx, cfg, p.log)
	if err != nil {
		cancel()
		up.Close()
		t.Fatal(err)
	}
	ready, exited := make(chan struct{}), make(chan error, 1)
	go func() { exited <- p.a.run(ctx, p.hup, func() { p.onHUP(p.a) }, func() { close(ready) }) }()
	await.Recv(t, "the proxy serving", ready)
	stopped := false
	p.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := await.Recv(t, "the proxy stopped", exited); err != nil {
				t.Errorf("proxy: %v", err)
			}
			up.Close()
		}
	}
	t.Cleanup(p.stop)
	return p
}

func (p *testProxy) nfsAddr() string    { return p.a.Addr().String() }
func (p *testProxy) metricsURL() string { return "http://" + p.a.metL.Addr().String() }
func (p *testProxy) socket() string     { return filepath.Join(p.cacheDir, "admin.sock") }

// treeState lists every file under dir with its size and modification
// time, to show a command changed nothing.
func treeState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+strconv.FormatInt(fi.Size(), 10)+" "+fi.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCLICacheCommands drives the cache subcommands against a proxy:
// warm with its flags after the path, invalidate by name with and without
// --dry-run, then (proxy stopped) stats with volume names and units,
// check without Go structs, cull --dry-run changing nothing, cull, and
// check's exit code 3 on a problem.
func TestCLICacheCommands(t *testing.T) {
	p := startTestProxy(t)

	// Flags after the positional argument.
	var warm warmReport
	out := mustRun(t, exitOK, "cache", "warm", "hello.txt", "--proxy", p.nfsAddr(), "--export", "/export", "-o", "json")
	if err := json.Unmarshal([]byte(out), &warm); err != nil || warm.Files != 1 || warm.Bytes != int64(len(demoText)) {
		t.Fatalf("cache warm hello.txt --proxy …: got %+v, %v; want 1 file of %d bytes\n%s", warm, err, len(demoText), out)
	}
	code, out, errs := runCLI(t, "cache", "warm", "--proxy", p.nfsAddr(), "hello.txt", "--progress", "always")
	if code != exitOK || !strings.Contains(out, "warmed 1 files, 33 B in") {
		t.Errorf("cache warm: exit %d, %q; want warmed 1 files, 33 B", code, out)
	}
	if !strings.Contains(errs, "warming") || !strings.Contains(errs, "33 B") {
		t.Errorf("cache warm --progress always: stderr %q; want a progress line with the bytes read", errs)
	}
	await.Until(t, "the granule of hello.txt stored", func() bool { return p.a.store.Stats().Fills > 0 })

	explicit := func() int64 { return p.a.srv.Meta(1).Stats().Invalidations[coherency.CauseExplicit] }
	out = mustRun(t, exitOK, "cache", "invalidate", "--volume", "/export", "--socket", p.socket(), "--dry-run")
	if !strings.Contains(out, "dry run: would invalidate 1 volume(s): 1 (/export)") {
		t.Errorf("invalidate --dry-run: got %q", out)
	}
	if n := explicit(); n != 0 {
		t.Fatalf("after invalidate --dry-run: %d explicit invalidations; want 0", n)
	}
	var inv invalidateReply
	out = mustRun(t, exitOK, "cache", "invalidate", "--volume", "/export", "--socket", p.socket(), "-o", "json")
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.DryRun || len(inv.Volumes) != 1 || inv.Volumes[0] != (adminVolumeID{1, "/export"}) {
		t.Errorf("invalidate -o json: got %+v, %v; want volume 1 /export", inv, err)
	}
	if n := explicit(); n != 1 {
		t.Fatalf("after invalidate: %d explicit invalidations; want 1", n)
	}
	if code, _, errs := runCLI(t, "cache", "invalidate", "--volume", "/nope", "--socket", p.socket()); code != exitFailure || !strings.Contains(errs, "no such volume") {
		t.Errorf("invalidate of an unknown volume: exit %d, %q; want 1, no such volume", code, errs)
	}
	p.stop()

	dir := p.cacheDir
	var st cacheStats
	if err := json.Unmarshal([]byte(mustRun(t, exitOK, "cache", "stats", "--dir", dir, "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Volumes) != 1 || st.Objects != 1 || st.Volumes[0].Server != "127.0.0.1" || st.Volumes[0].Export != "/export" || st.Volumes[0].ID != 1 || st.Bytes <= 0 {
		t.Errorf("stats -o json: got %+v; want one object in volume 1, 127.0.0.1:/export", st)
	}
	out = mustRun(t, exitOK, "cache", "stats", "--dir", dir)
	if !strings.Contains(out, "127.0.0.1:/export") || !strings.Contains(out, "KiB") || strings.Contains(out, "nfs,") {
		t.Errorf("stats: got\n%s\nwant the volume by name and sizes in KiB", out)
	}

	out = mustRun(t, exitOK, "cache", "check", "--dir", dir)
	if !strings.HasPrefix(out, "objects 1, good granules 1 (") || strings.Contains(out, "{") {
		t.Errorf("check: got %q; want one good object, no Go structs", out)
	}
	code, out, errs = runCLI(t, "cache", "check", "--dir", dir, "--progress", "always")
	if code != exitOK || !strings.HasPrefix(out, "objects 1, good granules 1 (") || !strings.Contains(errs, "checking") {
		t.Errorf("check --progress always: exit %d\nstdout %q\nstderr %q\nwant the report on stdout and a progress line on stderr", code, out, errs)
	}
	if code, _, errs := runCLI(t, "cache", "check", "--dir", dir, "--progress", "sometimes"); code != exitUsage || !strings.Contains(errs, "--progress") {
		t.Errorf("check --progress sometimes: exit %d, stderr %q; want a usage error naming --progress", code, errs)
	}

	before := treeState(t, dir)
	var cull cullReport
	out = mustRun(t, exitOK, "cache", "cull", "--dir", dir, "--to", "0", "--dry-run", "-o", "json")
	if err := json.Unmarshal([]byte(out), &cull); err != nil || !cull.DryRun || cull.Objects != 1 || cull.Excess != st.Bytes || cull.Culled != 0 {
		t.Errorf("cull --dry-run -o json: got %+v, %v; want 1 object, %d bytes above the target", cull, err, st.Bytes)
	}
	if after := treeState(t, dir); !slices.Equal(before, after) {
		t.Fatalf("cull --dry-run changed the cache:\nbefore %q\nafter  %q", before, after)
	}
	if out := mustRun(t, exitOK, "cache", "cull", "--dir", dir, "--to", "0"); !strings.HasPrefix(out, "culled 1 objects; 0 B in 0 objects remain") {
		t.Errorf("cull: got %q; want 1 object culled", out)
	}

	// A stray file in a fan-out directory is a problem: exit 3.
	vols, err := os.ReadDir(filepath.Join(dir, "cache"))
	if err != nil || len(vols) != 1 {
		t.Fatalf("cache volumes: %v, %v", vols, err)
	}
	stray := filepath.Join(dir, "cache", vols[0].Name(), "@00", "stray")
	os.MkdirAll(filepath.Dir(stray), 0o755)
	if err := os.WriteFile(stray, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "cache", "check", "--dir", dir)
	if code != exitProblems || !strings.Contains(out, stray+": ") || strings.Contains(out, "{") || !strings.Contains(errs, "--repair") {
		t.Errorf("check with a stray file: exit %d\nstdout %q\nstderr %q\nwant exit %d naming %s", code, out, errs, exitProblems, stray)
	}
	mustRun(t, exitOK, "cache", "check", "--dir", dir, "--repair")
	mustRun(t, exitOK, "cache", "check", "--dir", dir)
}

// TestAdminOffTheMetricsListener: the metrics listener refuses
// POST /admin/invalidate (it is read-only); the admin socket serves it,
// with mode 0600, and found through --config.
func TestAdminOffTheMetricsListener(t *testing.T) {
	p := startTestProxy(t)
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		req, _ := http.NewRequest(method, p.metricsURL()+"/admin/invalidate", nil)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /admin/invalidate on the metrics listener: %s; want 404 or 405", method, resp.Status)
		}
	}
	if n := p.a.srv.Meta(1).Stats().Invalidations[coherency.CauseExplicit]; n != 0 {
		t.Fatalf("the metrics listener invalidated: %d explicit invalidations; want 0", n)
	}
	fi, err := os.Stat(p.socket())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket %s: mode %v; want a socket with 0600", p.socket(), fi.Mode())
	}
	cfg := writeConfig(t, "cache: { dir: "+p.cacheDir+" }\n"+minimal)
	if out := mustRun(t, exitOK, "cache", "invalidate", "--config", cfg); !strings.Contains(out, "invalidated 1 volume(s): 1 (/export)") {
		t.Errorf("invalidate --config: got %q", out)
	}
	if code, _, errs := runCLI(t, "cache", "invalidate"); code != exitUsage || !strings.Contains(errs, "no admin socket") {
		t.Errorf("invalidate with no way to the proxy: exit %d, %q; want 2, no admin socket", code, errs)
	}
	p.stop()
	if _, err := os.Lstat(p.socket()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin socket after stop: %v; want it removed", err)
	}
}

// TestAdminTCPNeedsToken: the optional TCP admin listener answers 401
// without the bearer token and serves the CLI that has it.
func TestAdminTCPNeedsToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startTestProxy(t, func(c *Config) {
		c.Admin.Listen, c.Admin.TokenFile, c.Admin.Socket = "127.0.0.1:0", tokenFile, "none"
	})
	if len(p.a.admin.listeners) != 1 {
		t.Fatalf("admin listeners %d; want the TCP one only (socket none)", len(p.a.admin.listeners))
	}
	base := "http://" + p.a.admin.listeners[0].Addr().String()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", token} {
		req, _ := http.NewRequest(http.MethodPost, base+"/admin/invalidate", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST with Authorization %q: %s; want 401", auth, resp.Status)
		}
	}
	if n := p.a.srv.Meta(1).Stats().Invalidations[coherency.CauseExplicit]; n != 0 {
		t.Fatalf("unauthorized requests invalidated: %d; want 0", n)
	}
	if out := mustRun(t, exitOK, "cache", "invalidate", "--admin", base, "--token-file", tokenFile, "--volume", "1"); !strings.Contains(out, "invalidated 1 volume(s)") {
		t.Errorf("invalidate --admin: got %q", out)
	}
	if n := p.a.srv.Meta(1).Stats().Invalidations[coherency.CauseExplicit]; n != 1 {
		t.Fatalf("after invalidate --admin: %d explicit invalidations; want 1", n)
	}
	if code, _, errs := runCLI(t, "cache", "invalidate", "--admin", base); code != exitUsage || !strings.Contains(errs, "--token-file") {
		t.Errorf("invalidate --admin without a token: exit %d, %q; want 2 asking for --token-file", code, errs)
	}
}

// TestServeConfigPrecedence: defaults < file < environment < flags, with
// flags anywhere; a flag not given leaves the file and environment alone.
func TestServeConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "listen: \":3049\"\nlog: { level: warn, format: json }\ndrain_timeout: 3s\n"+minimal)
	env := map[string]string{envConfig: file, config.EnvListen: "127.0.0.1:4049", config.EnvLogFormat: "text"}
	var f serveFlags
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--log-level", "debug", "--actimeo=7s", "--name", "/data"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServeConfig(fs, &f, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Listen, cfg.Log.Level, cfg.Log.Format, cfg.DrainTimeout.String(), cfg.Metrics.Listen,
		cfg.Volumes[0].Name, cfg.Volumes[0].Coherency.ACRegMax.String(), cfg.Volumes[0].Upstream}
	want := []string{"127.0.0.1:4049", "debug", "text", "3s", ":9102", "/data", "7s", "filer:/export"}
	if !slices.Equal(got, want) {
		t.Errorf("merged configuration: got %q; want %q", got, want)
	}
	if err := fs.Parse([]string{"--listen", ":5049"}); err != nil {
		t.Fatal(err)
	}
	if cfg, err = loadServeConfig(fs, &f, func(k string) string { return env[k] }); err != nil || cfg.Listen != ":5049" {
		t.Errorf("--listen over the environment: got %q, %v; want :5049", cfg.Listen, err)
	}
}

// TestSIGHUPReload: a reload request applies the log level and a volume's
// access, and logs what else changed as needing a restart.
func TestSIGHUPReload(t *testing.T) {
	p := startTestProxy(t)
	next := *p.a.cfg
	next.Volumes = slices.Clone(p.a.cfg.Volumes)
	next.Log.Level = "debug"
	next.Volumes[0].ReadOnly = true
	next.Cache.MaxSize = 1 << 30
	done := make(chan []string, 1)
	p.onHUP = func(a *app) {
		restart := config.RestartNeeded(a.cfg, &next)
		a.reload(&next)
		done <- restart
	}
	p.hup <- syscall.SIGHUP
	if restart := await.Recv(t, "the reload", done); !slices.Equal(restart, []string{"cache"}) {
		t.Errorf("restart needed: got %q; want [cache]", restart)
	}
	if p.a.level.Level() != slog.LevelDebug || !p.a.cfg.Volumes[0].ReadOnly {
		t.Errorf("after reload: level %v, read_only %v; want debug, true", p.a.level.Level(), p.a.cfg.Volumes[0].ReadOnly)
	}
	if log := p.log.String(); !strings.Contains(log, "these need a restart") || !strings.Contains(log, "unchanged=[cache]") {
		t.Errorf("reload log: %s\nwant the restart warning naming cache", log)
	}
}
