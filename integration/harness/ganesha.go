package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Ganesha is one running nfs-ganesha serving [Ganesha.Dir] over NFSv3/TCP.
// Its exported fields are fixed at start and stay the same across Restart.
type Ganesha struct {
	Dir       string // local directory exported
	Host      string // "127.0.0.1"
	NFSPort   int
	MountPort int
	Export    string // pseudo path, "/export"

	StateDir string // configuration, pid file, recovery root
	ConfPath string
	LogPath  string
	PidPath  string

	bin      string
	opts     GaneshaOptions
	ownDir   bool // Dir was created here; Close removes it
	ownState bool // StateDir was created here; Close removes it

	// mu serializes Stop, Kill, Restart and Close, and guards proc.
	mu   sync.Mutex
	proc *process // nil when not started or after a stop
}

// instanceSeq numbers instances for their D-Bus name prefixes.
var instanceSeq atomic.Int64

// StartGanesha starts ganesha.nfsd and returns once the NFS port answers a
// NULL call for NFS v3 and the MOUNT port grants MNT of [Export]. It starts
// rpcbind first if none is running.
func StartGanesha(ctx context.Context, opts GaneshaOptions) (*Ganesha, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	bin, err := lookBinary("ganesha.nfsd", pkgGanesha)
	if err != nil {
		return nil, err
	}
	if err := checkFSALVFS(); err != nil {
		return nil, err
	}
	if err := EnsureRPCBind(ctx); err != nil {
		return nil, err
	}
	// Fixed ports are used as given (pickPorts fills in only zero ones).
	g := &Ganesha{Host: opts.Host, Export: Export, bin: bin, opts: opts, NFSPort: opts.NFSPort, MountPort: opts.MountPort}
	if err := g.makeDirs(); err != nil {
		g.removeOwned()
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.startLocked(ctx, opts.NFSPort == 0 || opts.MountPort == 0, false); err != nil {
		g.removeOwned()
		return nil, err
	}
	return g, nil
}

// makeDirs creates the export and state directories that were not given.
func (g *Ganesha) makeDirs() error {
	o := g.opts
	if o.StateDir == "" {
		d, err := os.MkdirTemp("", "ganesha-state-")
		if err != nil {
			return fmt.Errorf("harness: create state dir: %w", err)
		}
		o.StateDir, g.StateDir, g.ownState = d, d, true
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "ganesha-export-")
		if err != nil {
			return fmt.Errorf("harness: create export dir: %w", err)
		}
		g.Dir, g.ownDir = d, true
		if err := chmodExport(d); err != nil {
			return err
		}
		o.Dir = d
	}
	if fi, err := os.Stat(o.Dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("harness: export dir %s: not a directory (%v)", o.Dir, err)
	}
	if !validConfigString(o.StateDir) {
		return fmt.Errorf("harness: state dir %q contains a quote or newline", o.StateDir)
	}
	g.Dir, g.StateDir = o.Dir, o.StateDir
	g.ConfPath = filepath.Join(o.StateDir, "ganesha.conf")
	g.PidPath = filepath.Join(o.StateDir, "ganesha.pid")
	g.LogPath = o.LogPath
	if g.LogPath == "" {
		g.LogPath = filepath.Join(o.StateDir, "ganesha.log")
	}
	if err := os.MkdirAll(filepath.Join(o.StateDir, "recovery"), 0o755); err != nil {
		return fmt.Errorf("harness: create recovery dir: %w", err)
	}
	g.opts = o
	return nil
}

// startLocked writes the configuration and starts the process until it is
// ready, retrying what a retry can fix. With pickPorts, zero ports are chosen
// here and chosen again if ganesha finds one taken (another process may grab
// a port between our pick and ganesha's bind). With retryBusy, a taken port
// is retried until the start timeout (a restart may race the old process's
// sockets); otherwise a taken fixed port fails at once. A failed rpcbind
// registration (a ganesha started outside this harness raced ours, or
// rpcbind stopped answering) is retried a few times, each after making sure
// rpcbind answers again.
func (g *Ganesha) startLocked(ctx context.Context, pickPorts, retryBusy bool) error {
	ctx, cancel := context.WithTimeout(ctx, g.opts.StartTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		if pickPorts {
			if err := g.pickPorts(); err != nil {
				return err
			}
		}
		err := g.startOnce(ctx)
		if err == nil {
			return nil
		}
		var retry bool
		switch {
		case errors.Is(err, errRegister):
			retry = attempt < 5
		case errors.Is(err, errPortInUse):
			retry = (pickPorts && attempt < 5) || retryBusy
		}
		if !retry {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
		if errors.Is(err, errRegister) {
			if rerr := EnsureRPCBind(ctx); rerr != nil {
				return fmt.Errorf("%w\nthen: %w", err, rerr)
			}
		}
	}
}

// pickPorts fills in the ports the options left at zero.
func (g *Ganesha) pickPorts() error {
	g.NFSPort, g.MountPort = g.opts.NFSPort, g.opts.MountPort
	for g.NFSPort == 0 {
		p, err := freePort(g.Host)
		if err != nil {
			return err
		}
		if p != g.MountPort {
			g.NFSPort = p
		}
	}
	for g.MountPort == 0 {
		p, err := freePort(g.Host)
		if err != nil {
			return err
		}
		if p != g.NFSPort {
			g.MountPort = p
		}
	}
	return nil
}

// Retryable start failures, recognized in ganesha's log.
var (
	errPortInUse = errors.New("port in use")
	errRegister  = errors.New("rpcbind registration failed")
)

// startOnce writes the configuration, starts ganesha and waits until ready.
func (g *Ganesha) startOnce(ctx context.Context) error {
	cfg := ganeshaConfig{
		Host:         g.Host,
		NFSPort:      g.NFSPort,
		MountPort:    g.MountPort,
		Dir:          g.Dir,
		Export:       g.Export,
		RecoveryRoot: filepath.Join(g.StateDir, "recovery"),
		DBusPrefix:   "harness" + strconv.Itoa(os.Getpid()) + "x" + strconv.FormatInt(instanceSeq.Add(1), 10),
		CCacheDir:    filepath.Join(g.StateDir, "ccache"),
	}
	if err := os.WriteFile(g.ConfPath, []byte(cfg.render()), 0o644); err != nil {
		return fmt.Errorf("harness: write ganesha config: %w", err)
	}
	os.Remove(g.PidPath) // stale after a Kill
	logStart := fileSize(g.LogPath)
	args := []string{"-F", "-f", g.ConfPath, "-L", g.LogPath, "-p", g.PidPath, "-N", g.opts.LogLevel}
	unlock, err := lockStart(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := startProcess(g.bin, args, g.StateDir, g.LogPath)
	if err != nil {
		return err
	}
	if err := g.waitReady(ctx, p, logStart); err != nil {
		p.kill(5 * time.Second)
		logged := g.logSince(logStart)
		switch {
		case strings.Contains(logged, "Address already in use"):
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		case strings.Contains(logged, "Cannot register"), strings.Contains(logged, "rpcb_set"):
			err = fmt.Errorf("%w: %w", errRegister, err)
		}
		return fmt.Errorf("harness: start ganesha (nfs port %d, mount port %d): %w\nganesha log:\n%s",
			g.NFSPort, g.MountPort, err, lastLines(logged, 30))
	}
	g.proc = p
	return nil
}

// readyLine is what ganesha logs (at NIV_EVENT) once its sockets are bound
// and registered.
const readyLine = "NFS SERVER INITIALIZED"

// waitReady polls until our process has logged readyLine, NFS answers NULL
// and MOUNT grants MNT of the export, failing early if the process exits.
// The log check makes sure the answers come from our process, not from
// another server that grabbed a picked port first (ours then fails to bind).
func (g *Ganesha) waitReady(ctx context.Context, p *process, logStart int64) error {
	lastErr := errors.New("no probe yet")
	for {
		if strings.Contains(g.logSince(logStart), readyLine) {
			probe, cancel := context.WithTimeout(ctx, time.Second)
			lastErr = PingRPC(probe, g.NFSAddr(), progNFS, 3)
			if lastErr == nil {
				_, lastErr = MountRoot(probe, g.MountAddr(), g.Export)
			}
			cancel()
			if lastErr == nil && !p.exited() {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("ganesha exited before it was ready: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last probe: %v)", ctx.Err(), lastErr)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// NFSAddr is the "host:port" of the NFS service.
func (g *Ganesha) NFSAddr() string { return net.JoinHostPort(g.Host, strconv.Itoa(g.NFSPort)) }

// MountAddr is the "host:port" of the MOUNT service.
func (g *Ganesha) MountAddr() string { return net.JoinHostPort(g.Host, strconv.Itoa(g.MountPort)) }

// URL returns the libnfs URL of path (relative to the export) on this server.
func (g *Ganesha) URL(path string) string {
	return LibNFSURL(g.Host, g.NFSPort, g.MountPort, g.Export, path)
}

// RootFH returns the export's root file handle, by a MOUNT MNT call.
func (g *Ganesha) RootFH(ctx context.Context) ([]byte, error) {
	return MountRoot(ctx, g.MountAddr(), g.Export)
}

// PID returns the process id of the running ganesha, or 0.
func (g *Ganesha) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return 0
	}
	return g.proc.cmd.Process.Pid
}

// chmodExport makes a fresh export directory writable by every uid.
func chmodExport(dir string) error {
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("harness: chmod export dir: %w", err)
	}
	return nil
}

// removeOwned deletes the directories this harness created.
func (g *Ganesha) removeOwned() error {
	var errs []error
	if g.ownDir && g.Dir != "" {
		errs = append(errs, os.RemoveAll(g.Dir))
	}
	if g.ownState && g.StateDir != "" {
		errs = append(errs, os.RemoveAll(g.StateDir))
	}
	return errors.Join(errs...)
}
