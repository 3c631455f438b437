package kernel

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildProxy builds cmd/nfscacheproxy into out (from srcDir, inside the
// module).
func BuildProxy(ctx context.Context, srcDir, out string) error {
	goBin, err := goTool()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", abs, "github.com/nfscacheproxy/nfscacheproxy/cmd/nfscacheproxy")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kernel: build nfscacheproxy: %w\n%s", err, b)
	}
	return nil
}

// ProxyOptions configure a [ProxyProcess].
type ProxyOptions struct {
	Bin string // the nfscacheproxy binary; required
	// Upstream host, export and ports (ganesha's).
	UpstreamHost      string
	UpstreamExport    string
	UpstreamNFSPort   int
	UpstreamMountPort int
	// Port to listen on (127.0.0.1); 0 picks a free one, kept across
	// restarts.
	Port int
	// Config is a YAML configuration file (serve --config). When set, the
	// upstream and listen flags are not passed: the file has them.
	Config string
	// Extra flags, e.g. --coherency cto, --cache-dir DIR.
	Extra []string
	// LogPath receives the proxy's output (appended across restarts).
	LogPath string
}

// ProxyProcess is the nfscacheproxy binary serving on 127.0.0.1:Port.
type ProxyProcess struct {
	opts ProxyOptions
	Port int

	// mu guards cmd and exited.
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// ProxyConfig is what the suite needs of the proxy's configuration file:
// one volume in front of ganesha, configured like the harness's ganesha
// export (no root squash), with a data cache when CacheDir is set.
type ProxyConfig struct {
	Port              int
	UpstreamHost      string
	UpstreamExport    string
	UpstreamNFSPort   int
	UpstreamMountPort int
	CacheDir          string        // "": no data cache
	Mode              string        // coherency mode
	ACTimeo           time.Duration // 0: the proxy's defaults
	MetricsPort       int           // 0: no metrics endpoint
	// PortmapPort turns the built-in portmapper on at 127.0.0.1:PortmapPort
	// and NLMPort puts the proxy's NLM at 127.0.0.1:NLMPort (NLM is on by
	// default with the portmapper when the upstream offers NLM).
	PortmapPort, NLMPort int
}

// YAML renders the configuration file (see deploy/nfscacheproxy.example.yaml).
func (c ProxyConfig) YAML() string {
	var b strings.Builder
	metrics := ""
	if c.MetricsPort > 0 {
		metrics = "127.0.0.1:" + strconv.Itoa(c.MetricsPort)
	}
	fmt.Fprintf(&b, "listen: %q\nmetrics:\n  listen: %q\n", "127.0.0.1:"+strconv.Itoa(c.Port), metrics)
	if c.CacheDir != "" {
		fmt.Fprintf(&b, "cache:\n  dir: %q\n", c.CacheDir)
	}
	if c.PortmapPort > 0 {
		fmt.Fprintf(&b, "portmap:\n  enabled: true\n  listen: %q\n", "127.0.0.1:"+strconv.Itoa(c.PortmapPort))
	}
	if c.NLMPort > 0 {
		fmt.Fprintf(&b, "nlm:\n  listen: %q\n", "127.0.0.1:"+strconv.Itoa(c.NLMPort))
	}
	b.WriteString("upstream:\n  unprivileged_port: true\n")
	fmt.Fprintf(&b, "volumes:\n  - id: 1\n    name: %q\n    upstream: %q\n    nfs_port: %d\n    mount_port: %d\n",
		c.UpstreamExport, c.UpstreamHost+":"+c.UpstreamExport, c.UpstreamNFSPort, c.UpstreamMountPort)
	b.WriteString("    squash:\n      root: false\n")
	fmt.Fprintf(&b, "    coherency:\n      mode: %q\n", c.Mode)
	if c.ACTimeo > 0 {
		for _, k := range []string{"acregmin", "acregmax", "acdirmin", "acdirmax"} {
			fmt.Fprintf(&b, "      %s: %q\n", k, c.ACTimeo.String())
		}
	}
	return b.String()
}

// ServeFlags returns the flags `nfscacheproxy serve -h` lists (without
// dashes), to use optional ones only where the binary has them.
func ServeFlags(bin string) (map[string]bool, error) {
	var buf bytes.Buffer
	cmd := exec.Command(bin, "serve", "-h")
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.Run() // exits 2 after printing the usage
	flags := map[string]bool{}
	for _, line := range strings.Split(buf.String(), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(t, "-"), " ")
			flags[name] = true
		}
	}
	if !flags["upstream"] {
		return nil, fmt.Errorf("kernel: %s serve -h lists no --upstream flag:\n%s", bin, buf.String())
	}
	return flags, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("kernel: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartProxy starts the proxy and waits until it accepts connections.
func StartProxy(ctx context.Context, opts ProxyOptions) (*ProxyProcess, error) {
	p := &ProxyProcess{opts: opts, Port: opts.Port}
	if p.Port == 0 {
		if opts.Config != "" {
			return nil, fmt.Errorf("kernel: ProxyOptions.Port is required with a Config")
		}
		var err error
		if p.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *ProxyProcess) start(ctx context.Context) error {
	o := p.opts
	args := []string{"serve", "--config", o.Config}
	if o.Config == "" {
		args = []string{"serve",
			"--upstream", o.UpstreamHost + ":" + o.UpstreamExport,
			"--upstream-nfs-port", strconv.Itoa(o.UpstreamNFSPort),
			"--upstream-mount-port", strconv.Itoa(o.UpstreamMountPort),
			"--upstream-unprivileged-port",
			"--listen", "127.0.0.1:" + strconv.Itoa(p.Port),
		}
	}
	args = append(args, o.Extra...)
	log, err := os.OpenFile(o.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kernel: proxy log: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(o.Bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Killed with the test process, so a test killed at its timeout leaves
	// no proxy behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kernel: start proxy: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("kernel: proxy exited at start (%s): see %s:\n%s", cmd.ProcessState, o.LogPath, tail(o.LogPath, 10))
		case <-ctx.Done():
			p.Kill()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Kill()
			return fmt.Errorf("kernel: proxy did not listen on port %d within 30s", p.Port)
		}
	}
}

// Kill sends SIGKILL, as a crash would, and waits for the exit.
func (p *ProxyProcess) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Restart kills the proxy with SIGKILL and starts it again on the same
// port with the same flags (and so the same cache directory).
func (p *ProxyProcess) Restart(ctx context.Context) error {
	p.Kill()
	return p.start(ctx)
}

// Close stops the proxy with SIGTERM (SIGKILL after 15 s).
func (p *ProxyProcess) Close() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
