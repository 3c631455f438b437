package harness

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	progNSM = 100024
	pkgNFS  = "nfs-common"
	// statdDir is the state directory of the rpc.statd the harness
	// starts; like that statd it is shared by every test on the machine
	// and kept.
	statdDir = "/var/tmp/nfscacheproxy-harness-statd"
)

// statdMu serializes starting rpc.statd within this process.
var statdMu sync.Mutex

// EnsureStatd makes sure an NSM (rpc.statd) is registered with rpcbind:
// ganesha's NLM monitors every lock-holding host through it (SM_MON) and
// grants no lock when it cannot. It uses one that is registered;
// otherwise it starts "rpc.statd --no-notify -P statdDir", which
// daemonizes and is left running for the life of the machine (shared, as
// rpcbind is), and waits until it is registered.
func EnsureStatd(ctx context.Context) error {
	if err := EnsureRPCBind(ctx); err != nil {
		return err
	}
	if statdRegistered(ctx) {
		return nil
	}
	statdMu.Lock()
	defer statdMu.Unlock()
	if statdRegistered(ctx) {
		return nil
	}
	bin, err := lookBinary("rpc.statd", pkgNFS)
	if err != nil {
		return err
	}
	for _, d := range []string{"sm", "sm.bak"} {
		if err := os.MkdirAll(filepath.Join(statdDir, d), 0o755); err != nil {
			return fmt.Errorf("harness: statd state directory: %w", err)
		}
	}
	out, err := os.CreateTemp("", "harness-statd-")
	if err != nil {
		return fmt.Errorf("harness: statd output file: %w", err)
	}
	os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(bin, "--no-notify", "-P", statdDir)
	cmd.Stdout, cmd.Stderr = out, out
	runErr := cmd.Run()
	ctx, cancel := context.WithTimeout(ctx, rpcbindStartTimeout)
	defer cancel()
	for !statdRegistered(ctx) {
		select {
		case <-ctx.Done():
			b, _ := readFrom0(out)
			return fmt.Errorf("harness: started %s but it is not registered with rpcbind: run error %v, output %q",
				bin, runErr, strings.TrimSpace(string(b)))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// statdRegistered asks rpcbind (portmapper v2 GETPORT) whether NSM v1 is
// registered on UDP, where ganesha's statd client looks for it.
func statdRegistered(ctx context.Context) bool {
	port, err := getPort(ctx, progNSM, 1, 17)
	return err == nil && port != 0
}

// getPort asks the portmapper at PortmapAddr for prog, vers on protocol
// prot (6 TCP, 17 UDP).
func getPort(ctx context.Context, prog, vers, prot uint32) (uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var args bytes.Buffer
	for _, v := range []uint32{prog, vers, prot, 0} {
		put32(&args, v)
	}
	res, err := callRPC(ctx, PortmapAddr, progPortmap, 2, 3, nil, args.Bytes())
	if err != nil {
		return 0, err
	}
	if len(res) < 4 {
		return 0, fmt.Errorf("harness: GETPORT: short reply")
	}
	return binary.BigEndian.Uint32(res), nil
}
