package nlm

import (
	"net"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// udpCall makes one call over UDP and decodes the result.
func udpCall(t *testing.T, addr string, prog, vers, proc uint32, args xdr.Encoder, res xdr.Decoder) {
	t.Helper()
	udpCallFrom(t, "127.0.0.1", addr, prog, vers, proc, args, res)
}

// udpCallFrom is udpCall from local address ip (any of 127.0.0.0/8).
func udpCallFrom(t *testing.T, ip, addr string, prog, vers, proc uint32, args xdr.Encoder, res xdr.Decoder) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := xdr.NewWriter(nil)
	rpc.EncodeCall(w, 77, prog, vers, proc, &rpc.Cred{Flavor: rpc.AuthSys, Machine: "udp"})
	args.Encode(w)
	if _, err := c.Write(w.Buf); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a lost reply fails the test
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("UDP reply: %v", err)
	}
	r := xdr.NewReader(buf[:n])
	xid, err := rpc.DecodeReply(r)
	if err != nil || xid != 77 {
		t.Fatalf("UDP reply header: xid %d, %v; want 77, nil", xid, err)
	}
	if err := res.Decode(r); err != nil {
		t.Fatal(err)
	}
}

func startUDP(t *testing.T, s *Server) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.ServeUDP(pc) }()
	t.Cleanup(func() { s.Close(); <-done })
	return pc.LocalAddr().String()
}

// Locks over UDP are the same locks as over TCP.
func TestUDPLocks(t *testing.T) {
	rg := newRig(t, nil)
	ua := startUDP(t, rg.srv)
	var res Res
	udpCall(t, ua, Program, Version4, ProcLock, &LockArgs{Cookie: []byte("u"), Exclusive: true, Lock: plock("clientA", 1, 0, 0)}, &res)
	if res.Stat != Granted || string(res.Cookie) != "u" {
		t.Fatalf("LOCK over UDP: got %v %q; want granted u", res.Stat, res.Cookie)
	}
	b := rg.client(t, "clientB")
	call(t, b, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientB", 1, 0, 0)}, &res)
	if res.Stat != Denied {
		t.Fatalf("LOCK over TCP against the UDP client's lock: got %v; want denied", res.Stat)
	}
}

// SM_NOTIFY from a rebooted client (its statd, over UDP) frees the locks
// of the clients at the sender's address, whatever name it gives; another
// address cannot free them.
func TestSMNotifyFreesLocks(t *testing.T) {
	rg := newRig(t, nil)
	ua := startUDP(t, rg.srv)
	a := rg.client(t, "clientA")
	var res Res
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 10)}, &res)
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 2, 10, 10)}, &res)
	if n := rg.up.count(); n != 2 {
		t.Fatalf("upstream locks: got %d; want 2", n)
	}
	udpCallFrom(t, "127.0.0.2", ua, ProgramNSM, VersionNSM, ProcSMNotify, &NotifyArgs{Name: "clientA", State: 5}, Void)
	if n := rg.up.count(); n != 2 {
		t.Fatalf("upstream locks after SM_NOTIFY naming clientA from another address: got %d; want 2", n)
	}
	udpCall(t, ua, ProgramNSM, VersionNSM, ProcSMNotify, &NotifyArgs{Name: "clientA.example.com", State: 7}, Void)
	if n := rg.up.count(); n != 0 {
		t.Fatalf("upstream locks after SM_NOTIFY from the client's address: got %d; want 0", n)
	}
}
