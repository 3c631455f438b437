package portmap

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// testServer is a Server serving TCP and UDP on one loopback port.
type testServer struct {
	*Server
	tcp, udp string
	port     uint32
}

// startServer serves ms on host (e.g. "127.0.0.1") on a free port, TCP and
// UDP, and closes it at cleanup, checking both loops end with ErrClosed.
func startServer(t *testing.T, host string, opts Options) *testServer {
	t.Helper()
	l, pc := listenPair(t, host)
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(l) }()
	go func() { errc <- s.ServeUDP(pc) }()
	t.Cleanup(func() {
		s.Close()
		for range 2 {
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Errorf("Serve/ServeUDP returned %v; want ErrClosed", err)
			}
		}
	})
	return &testServer{Server: s, tcp: l.Addr().String(), udp: pc.LocalAddr().String(), port: uint32(l.Addr().(*net.TCPAddr).Port)}
}

// listenPair listens on TCP and UDP on the same free port of host.
func listenPair(t *testing.T, host string) (net.Listener, net.PacketConn) {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("listen tcp: %v", err)
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err == nil {
			return l, pc
		}
		l.Close()
	}
	t.Fatalf("no port free for both TCP and UDP on %s", host)
	return nil, nil
}

var testXID atomic.Uint32

// callMsg encodes a call to program 100000 with an AUTH_SYS credential.
func callMsg(vers, proc uint32, args func(w *xdr.Writer)) ([]byte, uint32) {
	xid := testXID.Add(1)
	w := xdr.NewWriter(nil)
	cred := rpc.Cred{Flavor: rpc.AuthSys, Machine: "test", UID: 1000, GID: 1000}
	rpc.EncodeCall(w, xid, ProgPortmap, vers, proc, &cred)
	if args != nil {
		args(w)
	}
	return w.Bytes(), xid
}

// exchange sends msg over network to addr and returns the reply, or an
// error (a timeout when the server sends none).
func exchange(t *testing.T, network, addr string, msg []byte) ([]byte, error) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if network == "udp" || network == "udp6" {
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	rec := append(make([]byte, 4), msg...)
	rpc.SetRecordHeader(rec)
	if _, err := c.Write(rec); err != nil {
		return nil, err
	}
	return rpc.ReadRecord(c, nil, 1<<20)
}

// call makes one call and returns a reader positioned at its results, or
// the *rpc.ReplyError of a reply without results.
func call(t *testing.T, network, addr string, vers, proc uint32, args func(w *xdr.Writer)) (*xdr.Reader, error) {
	t.Helper()
	msg, want := callMsg(vers, proc, args)
	rep, err := exchange(t, network, addr, msg)
	if err != nil {
		t.Fatalf("%s call v%d proc %d: %v", network, vers, proc, err)
	}
	r := xdr.NewReader(rep)
	xid, err := rpc.DecodeReply(r)
	if xid != want {
		t.Fatalf("reply xid %#x; want %#x", xid, want)
	}
	return r, err
}

func mapping(prog, vers, prot, port uint32) func(w *xdr.Writer) {
	return func(w *xdr.Writer) {
		w.Uint32(prog)
		w.Uint32(vers)
		w.Uint32(prot)
		w.Uint32(port)
	}
}

func rpcbArgs(prog, vers uint32, netid, addr, owner string) func(w *xdr.Writer) {
	return func(w *xdr.Writer) {
		w.Uint32(prog)
		w.Uint32(vers)
		w.String(netid)
		w.String(addr)
		w.String(owner)
	}
}

// checkNoLeak fails when more goroutines run at the end of the test than
// at its start (after letting them finish).
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Goroutines the test ended may still be on their way out.
		if await.Poll(await.Deadline, func() bool { return runtime.NumGoroutine() <= before }) {
			return
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d after; want <= %d before\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	})
}

func mustString(t *testing.T, r *xdr.Reader) string {
	t.Helper()
	s := r.String(1 << 10)
	if r.Err() != nil {
		t.Fatalf("decode string: %v", r.Err())
	}
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "timeout")
}
