package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// The tests here run real clients against the server. They only ask port
// 111, so the server listens on 127.0.0.2:111. When that is taken (an
// rpcbind on the wildcard address holds it, as during integration tests)
// and we are root, the test re-runs itself in a private network namespace,
// whose loopback is free; when that is not possible either it is skipped
// and says why.

// tool returns the path of a client program; a missing one fails t (make
// test installs it: scripts/deps.sh), it does not skip the test.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("%s not installed (Debian package %s; scripts/deps.sh installs it): cannot test against a real client", name, pkg)
	return ""
}

// servePortmap111 serves ms on 127.0.0.2:111, TCP and UDP, until the test
// ends. It returns false when the test was run in a private network
// namespace instead (the caller returns), and skips t when neither works.
func servePortmap111(t *testing.T, ms []Mapping) bool {
	t.Helper()
	const addr = "127.0.0.2:111"
	inUse := func(err error) bool {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return false
		}
		if rerunInNetns(t, t.Name()) {
			return true
		}
		t.Skipf("%s is in use (probably rpcbind on the wildcard address), and a private network namespace is not available; the client only asks port 111: %v", addr, err)
		return true
	}
	l, err := net.Listen("tcp", addr)
	if inUse(err) {
		return false
	}
	if err != nil {
		t.Fatalf("listen %s/tcp: %v", addr, err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		l.Close()
	}
	if inUse(err) {
		return false
	}
	if err != nil {
		t.Fatalf("listen %s/udp: %v", addr, err)
	}
	s, err := New(Options{Mappings: ms})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(l) }()
	go func() { errc <- s.ServeUDP(pc) }()
	t.Cleanup(func() {
		s.Close()
		<-errc
		<-errc
	})
	return true
}

// fakeService serves prog/vers over TCP on 127.0.0.2 until the test ends:
// results writes the results of proc and returns true, or returns false
// for PROC_UNAVAIL. It returns the port.
func fakeService(t *testing.T, prog, vers uint32, results func(proc uint32, w *xdr.Writer) bool) uint32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveRPC(l, prog, vers, results)
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return uint32(l.Addr().(*net.TCPAddr).Port)
}

// TestRPCInfo runs rpcinfo (Debian package rpcbind) against the server:
// -p (portmap v2 DUMP), HOST (rpcbind DUMP), and -T tcp/udp (GETADDR or
// GETPORT, then a NULL call to the address returned).
func TestRPCInfo(t *testing.T) {
	rpcinfo := tool(t, "rpcinfo", "rpcbind")
	checkNoLeak(t)
	const host = "127.0.0.2"
	// A stand-in NFS server that answers NULL for 100003 v3, which is what
	// `rpcinfo -T tcp HOST 100003 3` calls once it has the address.
	nfsPort := fakeService(t, ProgNFS, 3, func(proc uint32, w *xdr.Writer) bool { return proc == 0 })
	if !servePortmap111(t, ProxyMappings(nfsPort, nfsPort, 111)) {
		return
	}

	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, rpcinfo, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpcinfo %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("rpcinfo %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}

	// rpcinfo -p: portmap v2 DUMP.
	out := run("-p", host)
	got := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 {
			got[strings.Join(f[:4], " ")] = true
		}
	}
	for _, want := range []string{
		"100000 4 tcp 111", "100000 3 udp 111", "100000 2 tcp 111",
		fmt.Sprintf("100003 3 tcp %d", nfsPort), fmt.Sprintf("100005 3 tcp %d", nfsPort),
	} {
		if !got[want] {
			t.Errorf("rpcinfo -p: no line %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "100005    3   udp") {
		t.Errorf("rpcinfo -p: MOUNT listed on udp:\n%s", out)
	}

	// rpcinfo HOST: rpcbind v4/v3 DUMP with universal addresses.
	out = run(host)
	wantAddr := fmt.Sprintf("%s.%d.%d", host, nfsPort>>8, nfsPort&0xff)
	found := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "100003" && f[1] == "3" && f[2] == "tcp" && f[3] == wantAddr {
			found = true
		}
	}
	if !found {
		t.Errorf("rpcinfo %s: no line for 100003 3 tcp %s in\n%s", host, wantAddr, out)
	}

	// rpcinfo -T tcp HOST 100003 3: GETADDR, then NULL to the address.
	out = run("-T", "tcp", host, "100003", "3")
	if !strings.Contains(out, "program 100003 version 3 ready and waiting") {
		t.Errorf("rpcinfo -T tcp %s 100003 3: got\n%s\nwant \"program 100003 version 3 ready and waiting\"", host, out)
	}
	// The same for the portmapper itself over UDP.
	out = run("-T", "udp", host, "100000", "2")
	if !strings.Contains(out, "program 100000 version 2 ready and waiting") {
		t.Errorf("rpcinfo -T udp %s 100000 2: got\n%s", host, out)
	}
}

// serveRPC answers calls for prog/vers on l until it closes (see
// fakeService). It waits for the connections it served, which their
// clients close.
func serveRPC(l net.Listener, prog, vers uint32, results func(proc uint32, w *xdr.Writer) bool) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			for {
				rec, err := rpc.ReadRecord(c, nil, 1<<16)
				if err != nil {
					return
				}
				var h rpc.CallHeader
				if rpc.DecodeCall(xdr.NewReader(rec), &h) != nil {
					return
				}
				w := xdr.NewWriter(make([]byte, 4))
				switch {
				case h.Prog != prog:
					rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgUnavail)
				case h.Vers != vers:
					rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgMismatch)
					w.Uint32(vers)
					w.Uint32(vers)
				default:
					rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
					if !results(h.Proc, w) {
						w.Buf = w.Buf[:4]
						rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
					}
				}
				rpc.SetRecordHeader(w.Buf)
				if _, err := c.Write(w.Buf); err != nil {
					return
				}
			}
		}()
	}
}

// TestShowmount runs showmount -e (Debian package nfs-common) against the
// server: it finds MOUNT v3 through the portmapper and calls EXPORT.
func TestShowmount(t *testing.T) {
	showmount := tool(t, "showmount", "nfs-common")
	checkNoLeak(t)
	var exportCalls atomic.Int32
	mountPort := fakeService(t, ProgMount, 3, func(proc uint32, w *xdr.Writer) bool {
		switch proc {
		case 0:
			return true
		case 5: // EXPORT: one export with one group
			exportCalls.Add(1)
			w.Bool(true)
			w.String("/export")
			w.Bool(true)
			w.String("10.0.0.0/8")
			w.Bool(false)
			w.Bool(false)
			return true
		}
		return false
	})
	if !servePortmap111(t, ProxyMappings(2049, mountPort, 111)) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, showmount, "-e", "127.0.0.2").CombinedOutput()
	t.Logf("showmount -e 127.0.0.2:\n%s", out)
	if err != nil {
		t.Fatalf("showmount -e: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "/export") || !strings.Contains(string(out), "10.0.0.0/8") {
		t.Errorf("showmount -e: got\n%s\nwant the export /export 10.0.0.0/8", out)
	}
	if n := exportCalls.Load(); n != 1 {
		t.Errorf("MOUNT v3 EXPORT calls: got %d; want 1", n)
	}
}

const netnsEnv = "PORTMAP_TEST_IN_NETNS"

// rerunInNetns runs the top-level test name again in a new network
// namespace, whose only interface is loopback (as root, with unshare and ip
// from util-linux and iproute2), and reports whether it ran there; it fails
// t when it failed there.
func rerunInNetns(t *testing.T, name string) bool {
	t.Helper()
	if os.Getenv(netnsEnv) != "" || os.Geteuid() != 0 {
		return false
	}
	unshare, err1 := exec.LookPath("unshare")
	_, err2 := exec.LookPath("ip")
	if err1 != nil || err2 != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--net", "--", "sh", "-c",
		`ip link set lo up && exec "$0" -test.run "^$1\$" -test.v`, os.Args[0], name)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, _ := cmd.CombinedOutput()
	switch {
	case strings.Contains(string(out), "--- PASS: "+name):
		t.Logf("ran in a private network namespace:\n%s", out)
		return true
	case strings.Contains(string(out), "--- FAIL: "+name):
		t.Fatalf("in a private network namespace:\n%s", out)
		return true
	}
	t.Logf("could not re-run in a private network namespace:\n%s", out)
	return false
}
