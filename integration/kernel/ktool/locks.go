package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runLocks is a Connectathon-style lock test between two processes: this
// one (A) locks FILE_A, a child process (B) locks FILE_B, the same file
// seen through a second mount (nosharecache), so the kernel cannot answer
// B's F_GETLK from A's locks it holds locally: every conflict is decided
// by the server's lock manager (NLM). It checks exclusive and shared
// locks, ranges, splitting and merging of one owner's ranges, locks to
// EOF, non-blocking conflicts (F_SETLK → EAGAIN), F_GETLK reporting the
// holder's type and range, that closing any descriptor of the file
// releases the owner's locks, a blocking F_SETLKW woken when the holder
// unlocks, and flock(2) (whole-file locks over NLM on NFS).
//
// Every step prints one deterministic line; a step whose answer differs
// fails the command (exit 1).
//
// A blocking wait is bounded by -wait (default 180 s): the Linux client
// retries a blocked NLM LOCK every 30 s when no GRANTED callback reaches
// it, which is what happens in a QEMU user-network guest (no callback can
// reach into it).
func runLocks(args []string) error {
	if len(args) != 2 && len(args) != 3 {
		return usageError{"usage: locks FILE_A FILE_B [FILE_C]"}
	}
	a, err := newLocker(args[0])
	if err != nil {
		return err
	}
	defer a.f.Close()
	if _, err := a.f.WriteAt(make([]byte, 4096), 0); err != nil {
		return fmt.Errorf("write %s: %w", args[0], err)
	}
	b, err := startLockChild(args[1])
	if err != nil {
		return err
	}
	defer b.stop()
	s := &lockScript{a: a, b: b}
	s.run()
	if len(args) == 3 && s.err == nil {
		c, err := startLockChild(args[2])
		if err != nil {
			return err
		}
		defer c.stop()
		s.c = c
		s.runThird()
	}
	return s.err
}

// lockScript runs the steps in order and stops at the first wrong answer.
type lockScript struct {
	a   *locker
	b   *lockChild
	c   *lockChild // optional: the same file through another server
	err error
}

func (s *lockScript) step(who, cmd, want string) {
	if s.err != nil {
		return
	}
	var got string
	switch who {
	case "A":
		got = s.a.do(cmd)
	case "B":
		got = s.b.call(cmd)
	default:
		got = s.c.call(cmd)
	}
	if got != want {
		s.err = fmt.Errorf("%s %s: got %q; want %q", who, cmd, got, want)
		return
	}
	fmt.Printf("%s %s: %s\n", who, cmd, got)
}

func (s *lockScript) section(name string) {
	if s.err == nil {
		fmt.Printf("-- %s\n", name)
	}
}

func (s *lockScript) run() {
	s.step("B", "open", "ok")

	s.section("exclusive lock of the whole file")
	s.step("A", "setlk w 0 0", "ok")
	s.step("B", "getlk w 0 0", "w 0 0")
	s.step("B", "getlk r 4000 1", "w 0 0")
	s.step("B", "setlk w 0 10", "EAGAIN")
	s.step("B", "setlk r 100 10", "EAGAIN")
	s.step("A", "setlk u 0 0", "ok")
	s.step("B", "getlk w 0 0", "unlck")
	s.step("B", "setlk w 0 0", "ok")
	s.step("A", "setlk r 0 1", "EAGAIN")
	s.step("B", "setlk u 0 0", "ok")

	s.section("shared locks, upgrade, split of a shared range")
	s.step("A", "setlk r 0 100", "ok")
	s.step("B", "setlk r 50 100", "ok")
	s.step("B", "getlk r 0 200", "unlck")
	s.step("B", "getlk w 0 10", "r 0 100")
	s.step("A", "setlk w 0 100", "EAGAIN")
	s.step("B", "setlk w 120 10", "ok") // B: r [50,120) w [120,130) r [130,150)
	s.step("A", "getlk w 125 1", "w 120 10")
	s.step("A", "getlk w 140 1", "r 130 20")
	s.step("A", "getlk r 140 1", "unlck")
	s.step("A", "setlk u 0 0", "ok")
	s.step("B", "setlk u 0 0", "ok")

	s.section("split by unlocking the middle, merge by relocking it")
	s.step("A", "setlk w 0 100", "ok")
	s.step("A", "setlk u 40 20", "ok") // A: [0,40) [60,100)
	s.step("B", "getlk w 40 20", "unlck")
	s.step("B", "setlk w 45 10", "ok")
	s.step("B", "setlk w 30 20", "EAGAIN")
	s.step("B", "getlk w 90 20", "w 60 40")
	s.step("B", "setlk u 0 0", "ok")
	s.step("A", "setlk w 40 20", "ok") // merged: [0,100)
	s.step("B", "getlk w 50 1", "w 0 100")
	s.step("A", "setlk u 0 50", "ok") // A: [50,100)
	s.step("B", "setlk w 0 50", "ok")
	s.step("B", "getlk w 0 0", "w 50 50")
	s.step("B", "setlk u 0 0", "ok")
	s.step("A", "setlk u 0 0", "ok")

	s.section("lock to EOF (len 0), far offsets")
	s.step("A", "setlk w 100 0", "ok")
	s.step("B", "setlk w 1099511627776 10", "EAGAIN")
	s.step("B", "getlk w 1099511627776 10", "w 100 0")
	s.step("B", "setlk w 0 100", "ok")
	s.step("B", "setlk u 0 0", "ok")
	s.step("A", "setlk u 0 0", "ok")

	s.section("closing any descriptor releases the owner's locks")
	s.step("A", "setlk w 0 0", "ok")
	s.step("B", "setlk w 0 1", "EAGAIN")
	s.step("A", "openclose", "ok")
	s.step("B", "getlk w 0 0", "unlck")
	s.step("B", "setlk w 0 0", "ok")
	s.step("B", "setlk u 0 0", "ok")

	s.section("blocking lock waits and is granted after the unlock")
	s.step("A", "setlk w 0 0", "ok")
	s.blocking("setlkw w 0 10")
	s.step("A", "getlk w 0 10", "unlck") // A's own lock: no conflict
	s.step("A", "setlk u 0 0", "ok")
	s.waitBlocked("ok")
	s.step("A", "setlk w 5 1", "EAGAIN")
	s.step("B", "setlk u 0 0", "ok")

	s.section("flock (whole-file locks over NLM)")
	s.step("A", "flock ex", "ok")
	s.step("B", "flock ex nb", "EAGAIN")
	s.step("B", "flock sh nb", "EAGAIN")
	s.step("A", "flock un", "ok")
	s.step("B", "flock sh nb", "ok")
	s.step("A", "flock sh nb", "ok")
	s.step("A", "flock ex nb", "EAGAIN")
	s.step("B", "flock un", "ok")
	s.step("A", "flock un", "ok")
	s.step("B", "flock ex nb", "ok")
	s.step("B", "flock un", "ok")
	s.step("B", "close", "ok")
}

// runThird has a third process C lock the same file through FILE_C (the
// upstream mounted directly, for the proxy target): each side sees the
// other's locks, and a blocked lock through one is granted after the
// unlock through the other.
func (s *lockScript) runThird() {
	s.step("B", "open", "ok")
	s.step("C", "open", "ok")
	s.section("a third process through the other server")
	s.step("A", "setlk w 0 100", "ok")
	s.step("C", "getlk w 0 10", "w 0 100")
	s.step("C", "setlk w 50 1", "EAGAIN")
	s.step("C", "setlk r 100 0", "ok")
	s.step("B", "getlk w 200 1", "r 100 0")
	s.step("A", "setlk u 0 0", "ok")
	s.step("C", "setlk w 0 0", "ok")
	s.step("A", "getlk r 0 1", "w 0 0")
	s.step("B", "setlk r 0 1", "EAGAIN")
	s.blockingOn(s.b, "B", "setlkw w 0 0")
	s.step("C", "setlk u 0 0", "ok")
	s.waitBlocked("ok")
	s.step("C", "setlk r 0 1", "EAGAIN")
	s.step("B", "setlk u 0 0", "ok")
	s.step("C", "setlk w 0 0", "ok")
	s.step("C", "setlk u 0 0", "ok")
	s.step("B", "close", "ok")
	s.step("C", "close", "ok")
}

// blocking sends cmd to B without waiting for the answer, then checks,
// after B had a moment to block, that B has not got the lock: getting it
// while A holds the conflicting lock is a failure. The moment only makes
// the check meaningful; the test's verdict does not depend on it.
func (s *lockScript) blocking(cmd string) { s.blockingOn(s.b, "B", cmd) }

func (s *lockScript) blockingOn(p *lockChild, who, cmd string) {
	if s.err != nil {
		return
	}
	if err := p.send(cmd); err != nil {
		s.err = err
		return
	}
	fmt.Printf("%s %s: sent\n", who, cmd)
	select {
	case got, ok := <-p.lines:
		s.err = fmt.Errorf("%s %s: answered %q (ok %v) while the lock is held; want it to block", who, cmd, got, ok)
	case <-time.After(2 * time.Second):
		fmt.Printf("%s %s: blocked while the lock is held\n", who, cmd)
	}
}

func (s *lockScript) waitBlocked(want string) {
	if s.err != nil {
		return
	}
	got := s.b.receive()
	if got != want {
		s.err = fmt.Errorf("B's blocked lock: got %q; want %q", got, want)
		return
	}
	fmt.Printf("B blocked lock: %s\n", got)
}

// locker executes lock commands on one open file.
type locker struct {
	path string
	f    *os.File
}

func newLocker(path string) (*locker, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &locker{path: path, f: f}, nil
}

// do runs one command and returns its answer: "ok", "EAGAIN", "unlck",
// "TYPE START LEN" (F_GETLK's holder) or "error: …".
func (l *locker) do(cmd string) string {
	w := strings.Fields(cmd)
	if len(w) == 0 {
		return "error: empty command"
	}
	switch w[0] {
	case "open":
		if l.f != nil {
			l.f.Close()
		}
		f, err := os.OpenFile(l.path, os.O_RDWR, 0)
		if err != nil {
			return "error: " + err.Error()
		}
		l.f = f
		return "ok"
	case "close":
		if l.f == nil {
			return "error: not open"
		}
		err := l.f.Close()
		l.f = nil
		return errAnswer(err)
	case "openclose":
		// POSIX: closing any descriptor of a file releases all the
		// process's locks on it.
		f, err := os.Open(l.path)
		if err != nil {
			return "error: " + err.Error()
		}
		return errAnswer(f.Close())
	case "setlk", "setlkw", "getlk":
		if len(w) != 4 || l.f == nil {
			return "error: bad command or not open: " + cmd
		}
		typ, ok := map[string]int16{"r": unix.F_RDLCK, "w": unix.F_WRLCK, "u": unix.F_UNLCK}[w[1]]
		start, err1 := strconv.ParseInt(w[2], 10, 64)
		n, err2 := strconv.ParseInt(w[3], 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return "error: bad command " + cmd
		}
		fl := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: start, Len: n}
		op := map[string]int{"setlk": unix.F_SETLK, "setlkw": unix.F_SETLKW, "getlk": unix.F_GETLK}[w[0]]
		err := unix.FcntlFlock(l.f.Fd(), op, &fl)
		if err != nil || w[0] != "getlk" {
			return errAnswer(err)
		}
		switch fl.Type {
		case unix.F_UNLCK:
			return "unlck"
		case unix.F_RDLCK:
			return fmt.Sprintf("r %d %d", fl.Start, fl.Len)
		case unix.F_WRLCK:
			return fmt.Sprintf("w %d %d", fl.Start, fl.Len)
		}
		return fmt.Sprintf("error: F_GETLK type %d", fl.Type)
	case "flock":
		if len(w) < 2 || l.f == nil {
			return "error: bad command or not open: " + cmd
		}
		how, ok := map[string]int{"ex": unix.LOCK_EX, "sh": unix.LOCK_SH, "un": unix.LOCK_UN}[w[1]]
		if !ok {
			return "error: bad command " + cmd
		}
		if len(w) == 3 && w[2] == "nb" {
			how |= unix.LOCK_NB
		}
		return errAnswer(unix.Flock(int(l.f.Fd()), how))
	}
	return "error: unknown command " + cmd
}

func errAnswer(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EACCES):
		return "EAGAIN"
	}
	return "error: " + err.Error()
}

// runLockChild is B: it answers each command line on stdin with one line
// on stdout, until stdin closes.
func runLockChild(args []string) error {
	if len(args) != 1 {
		return usageError{"usage: lockchild FILE"}
	}
	l := &locker{path: args[0]}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(l.do(in.Text()))
	}
	if l.f != nil {
		l.f.Close()
	}
	return in.Err()
}

// lockChild is the other process, driven over its stdin and stdout.
type lockChild struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string // its answers; closed when it exits
}

func startLockChild(path string) (*lockChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "lockchild", path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the second process: %w", err)
	}
	c := &lockChild{cmd: cmd, in: in, lines: make(chan string, 4)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

func (c *lockChild) send(cmd string) error {
	_, err := fmt.Fprintln(c.in, cmd)
	return err
}

// lockAnswerTimeout bounds one answer of B: generous, as a blocked lock
// is retried by the client only every 30 s.
const lockAnswerTimeout = 180 * time.Second

func (c *lockChild) receive() string {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "error: the second process exited"
		}
		return l
	case <-time.After(lockAnswerTimeout):
		return fmt.Sprintf("error: no answer within %v", lockAnswerTimeout)
	}
}

func (c *lockChild) call(cmd string) string {
	if err := c.send(cmd); err != nil {
		return "error: " + err.Error()
	}
	return c.receive()
}

// stop closes B's stdin (it closes its file and exits) and waits for it;
// a B stuck in a lock call is killed.
func (c *lockChild) stop() {
	c.in.Close()
	select {
	case <-c.lines:
	case <-time.After(lockAnswerTimeout):
		c.cmd.Process.Kill()
	}
	for range c.lines {
	}
	c.cmd.Wait()
}
