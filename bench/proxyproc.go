package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// ProxyCommand says how to run the proxy as a child process:
// `Path serve --upstream HOST:EXPORT ...` with the flags below.
type ProxyCommand struct {
	// Path is the nfscacheproxy binary.
	Path string
	// Upstream is the server the proxy forwards to.
	Upstream Target
	// Dir holds the cache directory and the proxy's log. Default: a new
	// temporary directory, removed by Close.
	Dir string
	// ExtraArgs are appended to the serve flags.
	ExtraArgs []string
	// StartTimeout bounds the wait for the proxy to answer MNT and NULL
	// (default 30s); StopTimeout the wait after SIGTERM before SIGKILL
	// (default 15s).
	StartTimeout, StopTimeout time.Duration
}

// ProxyProcess is a running proxy child process.
type ProxyProcess struct {
	cmd     *exec.Cmd
	target  Target
	notes   []string
	logPath string
	ownDir  string // removed by Close
	stopT   time.Duration
	exited  chan struct{} // closed when the process has been waited for
	waitErr error         // valid once exited is closed
}

// StartProxyProcess starts the proxy on free loopback ports and returns once
// it answers MNT and an NFS NULL call (and its metrics endpoint answers,
// when the binary has --metrics-listen). Flags the binary does not have
// (--cache-dir, --metrics-listen, judged from `serve -h`) are left out and
// reported by Notes.
func StartProxyProcess(ctx context.Context, c ProxyCommand) (*ProxyProcess, error) {
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 15 * time.Second
	}
	if err := c.Upstream.Validate(); err != nil {
		return nil, err
	}
	help, err := serveHelp(ctx, c.Path)
	if err != nil {
		return nil, err
	}
	p := &ProxyProcess{stopT: c.StopTimeout, exited: make(chan struct{})}
	dir := c.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "nfscacheproxy-bench-"); err != nil {
			return nil, fmt.Errorf("bench: proxy dir: %w", err)
		}
		p.ownDir = dir
	}
	fail := func(err error) (*ProxyProcess, error) {
		if p.ownDir != "" {
			os.RemoveAll(p.ownDir)
		}
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	args := []string{"serve",
		"--upstream", c.Upstream.Host + ":" + c.Upstream.Export,
		"--upstream-nfs-port", strconv.Itoa(c.Upstream.NFSPort),
		"--upstream-mount-port", strconv.Itoa(c.Upstream.MountPort),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"--upstream-unprivileged-port",
	}
	if strings.Contains(help, "-cache-dir") {
		cacheDir := filepath.Join(dir, "cache")
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return fail(fmt.Errorf("bench: proxy cache dir: %w", err))
		}
		args = append(args, "--cache-dir", cacheDir)
	} else {
		p.notes = append(p.notes, "the proxy binary has no --cache-dir flag: it ran without a cache directory")
	}
	var metricsURL string
	if strings.Contains(help, "-metrics-listen") {
		mport, err := freePort()
		if err != nil {
			return fail(err)
		}
		maddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(mport))
		args = append(args, "--metrics-listen", maddr)
		metricsURL = "http://" + maddr + "/metrics"
	} else {
		p.notes = append(p.notes, "the proxy binary has no --metrics-listen flag: no upstream ratios")
	}
	args = append(args, c.ExtraArgs...)

	p.logPath = filepath.Join(dir, "proxy.log")
	logf, err := os.Create(p.logPath)
	if err != nil {
		return fail(fmt.Errorf("bench: proxy log: %w", err))
	}
	p.cmd = exec.Command(c.Path, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	setDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return fail(fmt.Errorf("bench: start proxy: %w", err))
	}
	logf.Close() // the child has its own descriptor
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	p.target = Target{Host: "127.0.0.1", NFSPort: port, MountPort: port, Export: c.Upstream.Export}
	if err := p.waitReady(ctx, c.StartTimeout, metricsURL); err != nil {
		p.Close()
		return nil, err
	}
	if metricsURL != "" && p.target.MetricsURL == "" {
		p.notes = append(p.notes, "the proxy's metrics endpoint did not answer: no upstream ratios")
	}
	return p, nil
}

// serveHelp returns the output of `path serve -h`.
func serveHelp(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "serve", "-h")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil && out.Len() == 0 {
		return "", fmt.Errorf("bench: %s serve -h: %w", path, err)
	}
	return out.String(), nil
}

// waitReady polls until the proxy answers MNT and NULL, the process exits
// or the timeout passes; then it gives the metrics endpoint the time left.
func (p *ProxyProcess) waitReady(ctx context.Context, timeout time.Duration, metricsURL string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("bench: proxy exited during start-up (%v); log:\n%s", p.waitErr, p.LogTail(20))
		default:
		}
		if last = pingNFS(ctx, p.target); last == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: proxy not ready after %v: %w; log:\n%s", timeout, last, p.LogTail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
	for metricsURL != "" {
		if _, err := Scrape(ctx, metricsURL); err == nil {
			p.target.MetricsURL = metricsURL
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // serve without ratios; StartProxyProcess notes it
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// pingNFS mounts t and sends an NFS NULL call.
func pingNFS(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := upstream.Dial(ctx, upstream.Options{Server: t.Host, Export: t.Export, NFSPort: t.NFSPort, MountPort: t.MountPort, Conns: 1, UnprivilegedPort: true, Retries: -1})
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Null(ctx)
}

// Target is where clients reach the proxy, with its metrics URL when known.
func (p *ProxyProcess) Target() Target { return p.target }

// PID is the child's process id.
func (p *ProxyProcess) PID() int { return p.cmd.Process.Pid }

// Notes lists what differs from a full run (flags the binary lacks).
func (p *ProxyProcess) Notes() []string { return p.notes }

// LogTail returns the last n lines of the proxy's log.
func (p *ProxyProcess) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Close stops the proxy by its PID: SIGTERM, then SIGKILL after the stop
// timeout; it waits for the process and removes the directory it made.
func (p *ProxyProcess) Close() error {
	var err error
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(p.stopT):
			p.cmd.Process.Kill()
			<-p.exited
			err = fmt.Errorf("bench: proxy %d did not stop within %v of SIGTERM; killed", p.PID(), p.stopT)
		}
	}
	if p.ownDir != "" {
		if rerr := os.RemoveAll(p.ownDir); rerr != nil && err == nil {
			err = rerr
		}
	}
	var ee *exec.ExitError
	if err == nil && p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		err = p.waitErr
	}
	return err
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
