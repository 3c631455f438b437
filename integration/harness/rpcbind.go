package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PortmapAddr is where ganesha registers its programs.
const PortmapAddr = "127.0.0.1:111"

// rpcbindStartTimeout bounds starting rpcbind and waiting for it to answer.
const rpcbindStartTimeout = 15 * time.Second

// rpcbindMu serializes starting rpcbind within this process; other processes
// racing to start it are handled by rpcbind's own lock file.
var rpcbindMu sync.Mutex

// EnsureRPCBind makes sure a portmapper answers on 127.0.0.1:111. It uses
// one that is already running; otherwise it starts "rpcbind -w", which
// daemonizes and is left running for the life of the machine (it is shared
// by every ganesha in every process, so it is never stopped here). Starting
// rpcbind needs root.
func EnsureRPCBind(ctx context.Context) error {
	if pingPortmap(ctx) == nil {
		return nil
	}
	rpcbindMu.Lock()
	defer rpcbindMu.Unlock()
	if pingPortmap(ctx) == nil {
		return nil
	}
	bin, err := lookBinary("rpcbind", pkgRPCBind)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, rpcbindStartTimeout)
	defer cancel()
	prepareRPCBindDir()

	// rpcbind forks into the background and the foreground process exits.
	// WaitDelay guards against a daemon that keeps our output pipe open.
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-w")
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 2 * time.Second
	runErr := cmd.Run()

	// Even when the launch failed (say, another process won the race and
	// rpcbind refused a second instance), a portmapper may now answer.
	var lastErr error
	for {
		if lastErr = pingPortmap(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			msg := strings.TrimSpace(out.String())
			if runErr != nil {
				return fmt.Errorf("harness: start %s -w: %w (output: %q; portmapper: %v)", bin, runErr, msg, lastErr)
			}
			return fmt.Errorf("harness: started %s -w but %s does not answer: %w (output: %q)", bin, PortmapAddr, lastErr, msg)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pingPortmap sends a NULL call to portmapper v2 with a short timeout.
func pingPortmap(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return PingRPC(ctx, PortmapAddr, progPortmap, 2)
}

// prepareRPCBindDir creates /run/rpcbind (normally made by systemd-tmpfiles,
// which a container may not run) for rpcbind's warm-start files, owned by the
// _rpc user that Debian's rpcbind switches to. Failures are left for rpcbind
// to report.
func prepareRPCBindDir() {
	const dir = "/run/rpcbind"
	if _, err := os.Stat(dir); err == nil {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	if u, err := user.Lookup("_rpc"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		os.Chown(dir, uid, 0)
	}
}
