package integration

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
	"github.com/nfscacheproxy/nfscacheproxy/nlm"
	"github.com/nfscacheproxy/nfscacheproxy/portmap"
)

// startNSMSink serves a statd and a portmapper naming it (NSM v1 on
// TCP), as a client host has; it returns the SM_NOTIFY calls it gets and
// the portmapper's port.
func startNSMSink(t *testing.T) (<-chan nlm.NotifyArgs, int) {
	t.Helper()
	ch := make(chan nlm.NotifyArgs, 8)
	port := startCallSink(t, func(h *rpc.CallHeader, r *xdr.Reader, w *xdr.Writer) {
		var a nlm.NotifyArgs
		if h.Prog != nlm.ProgramNSM || h.Proc != nlm.ProcSMNotify || a.Decode(r) != nil {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
			return
		}
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
		ch <- a
	})
	return ch, startTestPortmap(t, portmap.Mapping{Prog: nlm.ProgramNSM, Vers: nlm.VersionNSM, Netid: "tcp", Port: uint32(port)})
}

// TestLocksSurviveProxyRestart: the serve process, killed with SIGKILL
// and, separately, stopped with SIGTERM while a client holds locks
// through it, never lets another host take them: ganesha keeps them for
// the proxy while it is down; the restarted proxy tells the client
// (SM_NOTIFY to its statd, a higher state each time), serves its reclaim
// against the same upstream owner, answers other locks
// denied_grace_period, and at the end of grace releases the lock the
// client did not reclaim.
func TestLocksSurviveProxyRestart(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{NLM: true})
	if err := os.WriteFile(filepath.Join(g.Dir, "locked"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	notifies, clientPmap := startNSMSink(t)
	cacheDir := t.TempDir()
	port, pmapPort, nlmPort := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	const grace = "20s" // the in-grace steps below are a few loopback calls
	yaml := "nlm:\n  enabled: true\n  name: proxy-restart\n  listen: \"127.0.0.1:" + strconv.Itoa(nlmPort) + "\"\n" +
		"  grace_period: " + grace + "\n  client_portmap_port: " + strconv.Itoa(clientPmap) + "\n" +
		"volumes:\n  - id: 1\n    upstream: \"" + g.Host + ":" + g.Export + "\"\n" +
		"    nfs_port: " + strconv.Itoa(g.NFSPort) + "\n    mount_port: " + strconv.Itoa(g.MountPort) + "\n" +
		"    nlm_port: " + strconv.Itoa(g.NLMPort) + "\n    squash:\n      root: false\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *proxyProcess {
		return startBinary(t, g, port, "--config", cfg, "--cache-dir", cacheDir,
			"--portmap", "--portmap-listen", "127.0.0.1:"+strconv.Itoa(pmapPort))
	}
	nlmAddr := "127.0.0.1:" + strconv.Itoa(nlmPort)
	clientA := func() *nlm.Client {
		c := nlm.NewClient(nlmAddr, nlm.Program, nlm.Version4, "clientA")
		t.Cleanup(func() { c.Close() })
		return c
	}
	direct := nlm.NewClient(net.JoinHostPort(g.Host, strconv.Itoa(g.NLMPort)), nlm.Program, nlm.Version4, "hostB")
	t.Cleanup(func() { direct.Close() })

	p1 := start()
	pc := dialClient(t, "127.0.0.1", port, port, 0, 0)
	pfh := pc.mustLookup(pc.root(), "locked")
	dc := dialClient(t, g.Host, g.NFSPort, g.MountPort, 0, 0)
	ufh := dc.mustLookup(dc.root(), "locked")
	lockA := func(svid int32, off, n uint64) nlm.Lock {
		return nlm.Lock{CallerName: "clientA", FH: pfh, OH: []byte(strconv.Itoa(int(svid)) + "@clientA"), Svid: svid, Offset: off, Len: n}
	}
	lock := func(c *nlm.Client, a *nlm.LockArgs) nlm.Stat {
		t.Helper()
		var res nlm.Res
		nlmCall(t, c, nlm.ProcLock, a, &res)
		return res.Stat
	}
	lockB := func(off, n uint64) nlm.Stat {
		t.Helper()
		return lock(direct, &nlm.LockArgs{Exclusive: true, State: 1,
			Lock: nlm.Lock{CallerName: "hostB", FH: ufh, OH: []byte("500@hostB"), Svid: 500, Offset: off, Len: n}})
	}
	want := func(what string, got, want nlm.Stat) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %v; want %v", what, got, want)
		}
	}

	a := clientA()
	want("clientA LOCK 0+100 (svid 1)", lock(a, &nlm.LockArgs{Exclusive: true, State: 1, Lock: lockA(1, 0, 100)}), nlm.Granted)
	want("clientA LOCK 200+10 (svid 2)", lock(a, &nlm.LockArgs{Exclusive: true, State: 1, Lock: lockA(2, 200, 10)}), nlm.Granted)
	want("hostB LOCK 50+10", lockB(50, 10), nlm.Denied)

	// kill -9: the upstream keeps the locks while the proxy is down.
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p1.cmd.Wait()
	want("hostB LOCK 50+10 while the proxy is down", lockB(50, 10), nlm.Denied)
	want("hostB LOCK 200+10 while the proxy is down", lockB(200, 10), nlm.Denied)

	p2 := start()
	n1 := await.Recv(t, "SM_NOTIFY after the kill -9 restart", notifies)
	if n1.Name != "proxy-restart" || n1.State%2 != 1 {
		t.Fatalf("SM_NOTIFY: got %+v; want mon_name proxy-restart and an odd state", n1)
	}
	a = clientA()
	want("clientA non-reclaim LOCK in grace", lock(a, &nlm.LockArgs{Exclusive: true, State: 3, Lock: lockA(3, 1000, 10)}), nlm.DeniedGracePeriod)
	want("clientA reclaim of 0+100", lock(a, &nlm.LockArgs{Exclusive: true, Reclaim: true, State: 3, Lock: lockA(1, 0, 100)}), nlm.Granted)
	want("hostB LOCK 50+10 after the reclaim", lockB(50, 10), nlm.Denied)
	want("hostB LOCK 200+10 in grace (not reclaimed yet)", lockB(200, 10), nlm.Denied)
	if strings.Contains(p2.log.String(), "grace period over") {
		t.Fatalf("the grace period (%s) ended before the in-grace steps were done: the test cannot tell what it checked\n%s", grace, p2.log)
	}
	// The end of grace releases svid 2's lock, which nobody reclaimed.
	await.Until(t, "the proxy's log line \"grace period over\"", func() bool {
		return strings.Contains(p2.log.String(), "grace period over")
	})
	want("hostB LOCK 200+10 after grace (not reclaimed)", lockB(200, 10), nlm.Granted)
	want("hostB LOCK 50+10 after grace (reclaimed)", lockB(50, 10), nlm.Denied)

	// A graceful stop (SIGTERM) keeps the locks too.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p2.cmd.Wait()
	want("hostB LOCK 50+10 while the proxy is stopped", lockB(50, 10), nlm.Denied)
	start()
	n2 := await.Recv(t, "SM_NOTIFY after the graceful restart", notifies)
	if n2.State <= n1.State || n2.State%2 != 1 {
		t.Fatalf("SM_NOTIFY state after the second restart: got %d; want odd and over %d", n2.State, n1.State)
	}
	a = clientA()
	want("clientA reclaim of 0+100 after the graceful restart", lock(a, &nlm.LockArgs{Exclusive: true, Reclaim: true, State: 5, Lock: lockA(1, 0, 100)}), nlm.Granted)
	want("hostB LOCK 50+10 after the second reclaim", lockB(50, 10), nlm.Denied)
	var res nlm.Res
	nlmCall(t, a, nlm.ProcUnlock, &nlm.UnlockArgs{Lock: lockA(1, 0, 0)}, &res)
	want("clientA UNLOCK", res.Stat, nlm.Granted)
	want("hostB LOCK 50+10 after clientA unlocked", lockB(50, 10), nlm.Granted)
}
