package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// startLockName is the lock file, in os.TempDir(), that serializes ganesha
// start-ups on the machine.
//
// Why: at start every ganesha unregisters all versions of NFS and MOUNT from
// rpcbind and then registers its own ports. When two start at once, one can
// register between the other's unregister and register, and the second's
// registration fails ("Cannot register NFS V3 on TCP"), which is fatal to it.
// Go test runs packages in parallel processes, so an in-process mutex is not
// enough: flock(2) on a shared file covers both (each lock call opens the
// file anew, and flock locks conflict between open file descriptions even in
// one process). The lock is held from exec until the server answers, which is
// after registration. Stopping needs no lock: unregistering never makes
// another instance's registration fail.
const startLockName = "nfscacheproxy-harness-ganesha-start.lock"

// lockStart takes the start lock, waiting at most until ctx is done. The
// returned function releases it.
func lockStart(ctx context.Context) (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), startLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("harness: open start lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("harness: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("harness: wait for start lock %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
