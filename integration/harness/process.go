package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// killTimeout bounds the wait for a process to die after SIGKILL.
const killTimeout = 10 * time.Second

// process is one started ganesha.nfsd. Its waiter goroutine ends when the
// process exits.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and err is set
	err  error         // the result of Wait; read only after done is closed
}

// startProcess starts bin with its stdout and stderr appended to logPath.
// The child gets SIGKILL if this process dies (Pdeathsig) and its own
// process group, so a Ctrl-C of the test run reaches it only through us.
func startProcess(bin string, args []string, dir, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: open ganesha log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits up to timeout for the exit.
func (p *process) kill(timeout time.Duration) error {
	p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("harness: ganesha (pid %d) still running %v after SIGKILL", p.cmd.Process.Pid, timeout)
	}
}

// Stop terminates ganesha: SIGTERM, then SIGKILL if it has not exited within
// StopTimeout; it waits for the exit. It returns an error if ganesha had
// already died by itself, exited with a failure status or needed SIGKILL.
// Stopping a stopped server is a no-op. The directories are kept (see Close).
// A ganesha serving NLM is killed at once (see stopLocked).
func (g *Ganesha) Stop() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopLocked()
}

func (g *Ganesha) stopLocked() error {
	p := g.proc
	if p == nil {
		return nil
	}
	g.proc = nil
	pid := p.cmd.Process.Pid
	if p.exited() {
		return fmt.Errorf("harness: ganesha (pid %d) had exited by itself: %v\nganesha log:\n%s", pid, p.err, g.LogTail(30))
	}
	if g.opts.NLM {
		// ganesha 4.3 with NLM hangs in shutdown once it has monitored a
		// lock holder: it sends SM_UNMON to statd after its RPC channels
		// are gone ("SM_UNMON failed: RPC: Timed out", then
		// "svc_rqst_evchan_reg: unknown evchan") and never exits. Its
		// locks die with it either way.
		return p.kill(killTimeout)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("harness: ganesha (pid %d) after SIGTERM: %w\nganesha log:\n%s", pid, p.err, g.LogTail(30))
		}
		return nil
	case <-time.After(g.opts.StopTimeout):
	}
	if err := p.kill(killTimeout); err != nil {
		return err
	}
	return fmt.Errorf("harness: ganesha (pid %d) ignored SIGTERM for %v and was killed", pid, g.opts.StopTimeout)
}

// Kill sends SIGKILL to ganesha, as a crash would, and waits for the exit.
// Restart brings it back.
func (g *Ganesha) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return
	}
	g.proc.kill(killTimeout)
	g.proc = nil
}

// Restart stops ganesha if it is running (as Stop) and starts it again with
// the same directory, ports and configuration. The root file handle and the
// handles of existing files stay valid.
func (g *Ganesha) Restart(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.stopLocked(); err != nil {
		return err
	}
	return g.startLocked(ctx, false, true)
}

// Running reports whether the ganesha process is alive.
func (g *Ganesha) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.proc != nil && !g.proc.exited()
}

// Close stops ganesha and removes the directories the harness created
// (never a Dir or StateDir given in the options).
func (g *Ganesha) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.stopLocked(), g.removeOwned())
}

// LogTail returns the last n lines of the ganesha log.
func (g *Ganesha) LogTail(n int) string {
	size := fileSize(g.LogPath)
	return lastLines(g.logSince(max(0, size-256<<10)), n)
}

// logSince returns the log from byte offset off on (at most its last 256 KiB).
func (g *Ganesha) logSince(off int64) string {
	f, err := os.Open(g.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read ganesha log: %v)", err)
	}
	defer f.Close()
	if size := fileSize(g.LogPath); size-off > 256<<10 {
		off = size - 256<<10
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, 256<<10))
	if err != nil {
		return fmt.Sprintf("(cannot read ganesha log: %v)", err)
	}
	return string(b)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
