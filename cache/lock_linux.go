package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirLock is an exclusive flock(2) on <dir>/lock holding the owner's PID.
// flock locks belong to the open file description, so a second Open in
// the same process conflicts just as another process does. The lock
// always uses the real OS, not the FS seam.
type dirLock struct {
	f *os.File
}

func lockDir(dir string) (*dirLock, error) {
	name := filepath.Join(dir, "lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cache: lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("cache: lock %s: in use by PID %s: %w", dir, lockOwner(f), ErrLocked)
		}
		return nil, fmt.Errorf("cache: lock %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func lockOwner(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// release empties the PID and drops the lock.
func (l *dirLock) release() error {
	l.f.Truncate(0)
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("cache: unlock: %w", err)
	}
	return nil
}
