package harness

import (
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

// RPCBindSocket is rpcbind's local socket. ganesha's rpcb_set (libntirpc)
// tries it before 127.0.0.1:111, so a portmapper answering on TCP alone (a
// stand-in such as this project's own, or an rpcbind killed midway, whose
// socket file is left behind) is not enough: ganesha's registration then
// fails with "rpcb_set: RPC: Timed out" and ganesha exits.
const RPCBindSocket = "/run/rpcbind.sock"

// rpcbindStartTimeout bounds starting rpcbind and waiting for it to answer.
// Generous: on a busy machine a fork and exec can take seconds.
const rpcbindStartTimeout = 60 * time.Second

// rpcbindMu serializes starting rpcbind within this process; other processes
// racing to start it are handled by rpcbind's own lock file.
var rpcbindMu sync.Mutex

// EnsureRPCBind makes sure rpcbind answers both on 127.0.0.1:111 and on its
// local socket, where ganesha registers. It uses one that is already
// running; otherwise it starts "rpcbind -w", which daemonizes and is left
// running for the life of the machine (it is shared by every ganesha in
// every process, so it is never stopped here), and waits until it answers
// on both. Starting rpcbind needs root.
func EnsureRPCBind(ctx context.Context) error {
	if pingRPCBind(ctx) == nil {
		return nil
	}
	rpcbindMu.Lock()
	defer rpcbindMu.Unlock()
	if pingRPCBind(ctx) == nil {
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
	// Its output goes to a file, not a pipe, so that a daemon keeping the
	// descriptor open cannot hold up Wait. The command is not tied to ctx:
	// killing the foreground process midway (after it created the socket,
	// before the daemon serves it) is what leaves a dead socket behind.
	out, err := os.CreateTemp("", "harness-rpcbind-")
	if err != nil {
		return fmt.Errorf("harness: rpcbind output file: %w", err)
	}
	os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(bin, "-w")
	cmd.Stdout, cmd.Stderr = out, out
	runErr := cmd.Run()
	output := func() string {
		b, _ := readFrom0(out)
		return strings.TrimSpace(string(b))
	}

	// Even when the launch failed (say, another process won the race and
	// rpcbind refused a second instance), rpcbind may now answer.
	var lastErr error
	for {
		if lastErr = pingRPCBind(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if runErr != nil {
				return fmt.Errorf("harness: start %s -w: %w (output: %q; rpcbind: %v)", bin, runErr, output(), lastErr)
			}
			return fmt.Errorf("harness: started %s -w but it does not answer: %w (output: %q)", bin, lastErr, output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pingRPCBind sends a NULL call to rpcbind on 127.0.0.1:111 (portmapper
// v2) and on its local socket (rpcbind v3), each with a short timeout.
func pingRPCBind(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := PingRPC(ctx, PortmapAddr, progPortmap, 2); err != nil {
		return err
	}
	if _, err := callRPCNet(ctx, "unix", RPCBindSocket, progPortmap, 3, 0, nil, nil); err != nil {
		return fmt.Errorf("harness: rpc null %d v3 at %s: %w", progPortmap, RPCBindSocket, err)
	}
	return nil
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
