package kernel

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Target is one NFS server the guest runs the suite against.
type Target struct {
	Name      string // "direct", "proxy": a shell-safe word
	NFSPort   int    // on the host's loopback
	MountPort int
	Mode      string // coherency mode the suite expects: direct, cto, ttl, static
	// LockServer is the address the guest mounts the target at for the
	// lock test (014), without nolock: the guest's lockd asks port 111 of
	// that address for the target's NLM. "": locking is not reachable
	// (014 fails).
	LockServer string

	// The benchmark's in-guest targets (knfsd, a proxy in the guest): the
	// guest mounts Server:Export (default: the host, ShareOptions.Export)
	// after running guest/setup-<Setup>.sh start, which finds the far
	// upstream's ports in KSUITE_FAR_OPTS ("port=P,mountport=M" on the
	// host); guest/setup-<Setup>.sh stop runs after the target. All empty
	// in the suite's targets.
	Server, Export, Setup    string
	FarNFSPort, FarMountPort int
}

// ShareOptions describe one run of the suite in the guest.
type ShareOptions struct {
	// Dir is the directory to fill (created). Required.
	Dir string
	// SrcDir is integration/kernel (holding guest/, suite/, ktool/).
	// Default ".".
	SrcDir string
	// Upstream names ganesha's ports, for the guest's direct mounts.
	Upstream Target
	// Targets are run in order.
	Targets []Target
	Export  string // default "/export"
	Group   string // default "quick"
	Tests   []string
	// Scale is "quick" or "full"; default from the group.
	Scale string
	// TestTimeout bounds each test in the guest, in seconds; default 1200.
	TestTimeout int
	// CtlPort is the host port of [Control]; 0: none (restart tests are
	// not run).
	CtlPort int
	// TTLMax is the proxy's maximum attribute TTL in seconds (default 60).
	TTLMax int
	// Bench runs guest/bench.sh instead of the suite in every target.
	Bench bool
}

// Share is the directory shared with the guest at /ksuite.
type Share struct {
	Dir  string
	opts ShareOptions
}

// guestHost is the host's loopback as seen from a QEMU user-network guest.
const guestHost = "10.0.2.2"

// NewShare lays out the share: copies guest/ and suite/, cross-builds
// ktool for linux/amd64 into bin/, and writes params.env.
func NewShare(ctx context.Context, opts ShareOptions) (*Share, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("kernel: ShareOptions.Dir is required")
	}
	if opts.SrcDir == "" {
		opts.SrcDir = "."
	}
	if opts.Export == "" {
		opts.Export = "/export"
	}
	if opts.Group == "" {
		opts.Group = "quick"
	}
	if opts.TestTimeout == 0 {
		opts.TestTimeout = 1200
	}
	if opts.TTLMax == 0 {
		opts.TTLMax = 60
	}
	for _, t := range append([]Target{opts.Upstream}, opts.Targets...) {
		if t.NFSPort <= 0 || t.MountPort <= 0 {
			return nil, fmt.Errorf("kernel: target %q: ports not set", t.Name)
		}
	}
	for _, t := range opts.Targets {
		if !shellWord(t.Name) || !shellWord(t.Mode) {
			return nil, fmt.Errorf("kernel: target %q mode %q: want [a-z0-9_] words", t.Name, t.Mode)
		}
		if t.Setup != "" && (!shellWord(t.Setup) || t.FarNFSPort <= 0 || t.FarMountPort <= 0) {
			return nil, fmt.Errorf("kernel: target %q: setup %q wants a [a-z0-9_] word and the far upstream's ports", t.Name, t.Setup)
		}
	}
	for _, d := range []string{"guest", "suite"} {
		if err := copyTree(filepath.Join(opts.SrcDir, d), filepath.Join(opts.Dir, d)); err != nil {
			return nil, fmt.Errorf("kernel: share: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "out"), 0o755); err != nil {
		return nil, err
	}
	if err := BuildKtool(ctx, opts.SrcDir, filepath.Join(opts.Dir, "bin", "ktool")); err != nil {
		return nil, err
	}
	s := &Share{Dir: opts.Dir, opts: opts}
	if err := os.WriteFile(filepath.Join(opts.Dir, "params.env"), []byte(s.params()), 0o644); err != nil {
		return nil, fmt.Errorf("kernel: share: %w", err)
	}
	return s, nil
}

func shellWord(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Share) params() string {
	o := s.opts
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(v)) }
	opts := func(t Target) string { return fmt.Sprintf("port=%d,mountport=%d", t.NFSPort, t.MountPort) }
	kv("KSUITE_SERVER", guestHost)
	kv("KSUITE_EXPORT", o.Export)
	kv("KSUITE_UPSTREAM_OPTS", opts(o.Upstream))
	kv("KSUITE_UPSTREAM_LOCKSERVER", o.Upstream.LockServer)
	var names []string
	for _, t := range o.Targets {
		names = append(names, t.Name)
		kv("KSUITE_OPTS_"+t.Name, opts(t))
		kv("KSUITE_MODE_"+t.Name, t.Mode)
		kv("KSUITE_LOCKSERVER_"+t.Name, t.LockServer)
		if t.Server != "" {
			kv("KSUITE_SERVER_"+t.Name, t.Server)
		}
		if t.Export != "" {
			kv("KSUITE_EXPORT_"+t.Name, t.Export)
		}
		if t.Setup != "" {
			kv("KSUITE_SETUP_"+t.Name, t.Setup)
			kv("KSUITE_FAR_OPTS_"+t.Name, fmt.Sprintf("port=%d,mountport=%d", t.FarNFSPort, t.FarMountPort))
		}
	}
	kv("KSUITE_TARGETS", strings.Join(names, " "))
	kv("KSUITE_GROUP", o.Group)
	kv("KSUITE_TESTS", strings.Join(o.Tests, " "))
	b.WriteString("export KSUITE_TEST_TIMEOUT=" + strconv.Itoa(o.TestTimeout) + "\n")
	b.WriteString("export KSUITE_TTL_MAX=" + strconv.Itoa(o.TTLMax) + "\n")
	if o.Scale != "" {
		b.WriteString("export KSUITE_SCALE=" + strconv.Quote(o.Scale) + "\n")
	}
	if o.Bench {
		b.WriteString("KSUITE_RUN=bench\n")
	}
	if o.CtlPort != 0 {
		b.WriteString(fmt.Sprintf("export KSUITE_CTL=\"http://%s:%d\"\n", guestHost, o.CtlPort))
	}
	return b.String()
}

// BuildKtool cross-builds the guest helper (static, linux/amd64) to out.
func BuildKtool(ctx context.Context, srcDir, out string) error {
	goBin, err := goTool()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", abs, "./ktool")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kernel: build ktool: %w\n%s", err, b)
	}
	return nil
}

// goTool finds the go command (PATH, then GOROOT).
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, d := range []string{os.Getenv("GOROOT"), "/usr/local/go"} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("kernel: the go command is not on PATH")
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm()|0o444)
	})
}

// TestResult is one test's outcome in one target.
type TestResult struct {
	Name    string
	Status  string // pass, fail, notrun
	Seconds int
	Reason  string
}

// TargetResult is what the guest reported for one target.
type TargetResult struct {
	Target  string
	Tests   []TestResult
	Summary string // "proxy: 9 passed, 1 failed, 0 not run"
	Exit    int    // check's exit status; -1 when it did not finish
	Error   string // set when the target could not even be mounted
}

// Status returns the named test's status ("" when it did not run at all).
func (r *TargetResult) Status(name string) string {
	for _, t := range r.Tests {
		if t.Name == name {
			return t.Status
		}
	}
	return ""
}

// Counts returns the numbers of passed, failed and not-run tests.
func (r *TargetResult) Counts() (passed, failed, notrun int) {
	for _, t := range r.Tests {
		switch t.Status {
		case "pass":
			passed++
		case "fail":
			failed++
		default:
			notrun++
		}
	}
	return
}

// Results reads out/<target>/ for every target.
func (s *Share) Results() []*TargetResult {
	var rs []*TargetResult
	for _, t := range s.opts.Targets {
		rs = append(rs, s.result(t.Name))
	}
	return rs
}

func (s *Share) result(name string) *TargetResult {
	dir := s.ResultDir(name)
	r := &TargetResult{Target: name, Exit: -1}
	if b, err := os.ReadFile(filepath.Join(dir, "error")); err == nil {
		r.Error = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "summary")); err == nil {
		r.Summary = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "exit")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			r.Exit = n
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "status"))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		secs, _ := strconv.Atoi(f[2])
		r.Tests = append(r.Tests, TestResult{Name: f[0], Status: f[1], Seconds: secs, Reason: strings.Join(f[3:], " ")})
	}
	sort.SliceStable(r.Tests, func(i, j int) bool { return r.Tests[i].Name < r.Tests[j].Name })
	if r.Summary == "" {
		p, f, n := r.Counts()
		r.Summary = fmt.Sprintf("%s: %d passed, %d failed, %d not run (incomplete)", name, p, f, n)
	}
	return r
}

// Bench reads the "NAME VALUE UNIT" lines guest/bench.sh left for target.
func (s *Share) Bench(target string) ([]BenchResult, error) {
	b, err := os.ReadFile(filepath.Join(s.ResultDir(target), "bench"))
	if err != nil {
		return nil, fmt.Errorf("kernel: bench results of %s: %w", target, err)
	}
	var rs []BenchResult
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("kernel: bench results of %s: %q: %w", target, line, err)
		}
		rs = append(rs, BenchResult{Name: f[0], Value: v, Unit: f[2]})
	}
	return rs, nil
}

// BenchResult is one measurement of guest/bench.sh.
type BenchResult struct {
	Name  string
	Value float64
	Unit  string
}

// ResultDir is where the guest leaves the named target's results.
func (s *Share) ResultDir(target string) string { return filepath.Join(s.Dir, "out", target) }
