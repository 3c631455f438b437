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
	"syscall"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestRPCInfo runs the real rpcinfo (Debian package rpcbind) against the
// server. rpcinfo only asks port 111, so the server listens on
// 127.0.0.2:111. When that is taken (an rpcbind on the wildcard address
// holds it, as during integration tests) and we are root, the test re-runs
// itself in a private network namespace, whose loopback is free; when that
// is not possible either it is skipped and says why.
func TestRPCInfo(t *testing.T) {
	rpcinfo, err := exec.LookPath("rpcinfo")
	if err != nil {
		rpcinfo, err = exec.LookPath("/usr/sbin/rpcinfo")
	}
	if err != nil {
		t.Skip("rpcinfo not installed (Debian package rpcbind): cannot test against a real client")
	}
	const host = "127.0.0.2"
	l, err := net.Listen("tcp", host+":111")
	if errors.Is(err, syscall.EADDRINUSE) {
		if rerunInNetns(t, "TestRPCInfo") {
			return
		}
		t.Skipf("%s:111/tcp is in use (probably rpcbind on the wildcard address): rpcinfo only asks port 111, so it cannot reach a test server: %v", host, err)
	}
	if err != nil {
		t.Fatalf("listen %s:111/tcp: %v", host, err)
	}
	pc, err := net.ListenPacket("udp", host+":111")
	if errors.Is(err, syscall.EADDRINUSE) {
		l.Close()
		if rerunInNetns(t, "TestRPCInfo") {
			return
		}
		t.Skipf("%s:111/udp is in use (probably rpcbind on the wildcard address): rpcinfo only asks port 111, so it cannot reach a test server: %v", host, err)
	}
	if err != nil {
		l.Close()
		t.Fatalf("listen %s:111/udp: %v", host, err)
	}
	checkNoLeak(t)

	// A stand-in NFS server that answers NULL for 100003 v3, which is what
	// `rpcinfo -T tcp HOST 100003 3` calls once it has the address.
	nfsl, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	nfsDone := make(chan struct{})
	go func() {
		defer close(nfsDone)
		serveNullOnly(nfsl, ProgNFS, 3)
	}()
	t.Cleanup(func() { nfsl.Close(); <-nfsDone })
	nfsPort := uint32(nfsl.Addr().(*net.TCPAddr).Port)

	s, err := New(Options{Mappings: ProxyMappings(nfsPort, nfsPort, 111)})
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

// serveNullOnly answers NULL calls for prog/vers on l until it closes.
// It waits for the connections it served, which their clients close.
func serveNullOnly(l net.Listener, prog, vers uint32) {
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
				case h.Proc != 0:
					rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
				default:
					rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
				}
				rpc.SetRecordHeader(w.Buf)
				if _, err := c.Write(w.Buf); err != nil {
					return
				}
			}
		}()
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
