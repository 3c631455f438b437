package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// fakeServer answers MNT and NFS calls on one port with a handler the test
// chooses; it records how many calls of each procedure arrived.
type fakeServer struct {
	t       *testing.T
	l       net.Listener
	handle  func(h *rpc.CallHeader, args []byte, w *xdr.Writer) (reply bool)
	calls   [32]atomic.Int64
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
	accepts atomic.Int64
}

func newFakeServer(t *testing.T, handle func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool) *fakeServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, l: l, handle: handle}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) port() int { return s.l.Addr().(*net.TCPAddr).Port }

func (s *fakeServer) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.l.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.mu.Lock()
		s.conns = append(s.conns, nc)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			var wmu sync.Mutex
			for {
				rec, err := rpc.ReadRecord(nc, nil, 1<<20)
				if err != nil {
					return
				}
				s.wg.Add(1)
				go func(rec []byte) {
					defer s.wg.Done()
					r := xdr.NewReader(rec)
					var h rpc.CallHeader
					if rpc.DecodeCall(r, &h) != nil {
						return
					}
					if h.Prog == nfs3.MountProgram {
						w := xdr.NewWriter(nil)
						w.Uint32(0)
						rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
						(&nfs3.MntRes{Status: nfs3.MountOK, FH: nfs3.FH{1, 2, 3, 4}, AuthFlavors: []uint32{1}}).Encode(w)
						rpc.SetRecordHeader(w.Buf)
						wmu.Lock()
						nc.Write(w.Buf)
						wmu.Unlock()
						return
					}
					s.calls[h.Proc%32].Add(1)
					w := xdr.NewWriter(nil)
					w.Uint32(0)
					if !s.handle(&h, r.Rest(), w) {
						return
					}
					rpc.SetRecordHeader(w.Buf)
					wmu.Lock()
					nc.Write(w.Buf)
					wmu.Unlock()
				}(rec)
			}
		}()
	}
}

// dropConns closes every accepted connection (an upstream restart).
func (s *fakeServer) dropConns() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

func (s *fakeServer) close() {
	s.l.Close()
	s.dropConns()
	s.wg.Wait()
}

func dialFake(t *testing.T, s *fakeServer, o Options) *Client {
	o.Server, o.Export, o.NFSPort, o.MountPort, o.UnprivilegedPort = "127.0.0.1", "/x", s.port(), s.port(), true
	ctx, cancel := context.WithTimeout(context.Background(), await.Deadline) // a bound, not a timing
	defer cancel()
	c, err := Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var cred = rpc.Cred{Flavor: rpc.AuthSys, UID: 7, GID: 8}

func getattrOK(h *rpc.CallHeader, w *xdr.Writer) {
	rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
	(&nfs3.GetattrRes{Status: nfs3.StatOK, Attr: nfs3.Fattr3{Type: nfs3.TypeReg, Size: uint64(h.Cred.UID)}}).Encode(w)
}

// TestPipelinedOutOfOrder: many calls on one connection, answered in
// reverse order, each gets its own reply (matched by XID) and carries its
// own credential.
func TestPipelinedOutOfOrder(t *testing.T) {
	const n = 20
	var gates [n]chan struct{}
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	var arrived, answered atomic.Int64
	s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		arrived.Add(1)
		<-gates[h.Cred.UID-100]
		getattrOK(h, w)
		return true
	})
	c := dialFake(t, s, Options{Conns: 1})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cr := cred
			cr.UID = uint32(100 + i)
			res, err := c.Getattr(context.Background(), &cr, &nfs3.GetattrArgs{Object: nfs3.FH{1}})
			answered.Add(1)
			if err != nil {
				errs <- err
				return
			}
			if res.Attr.Size != uint64(100+i) {
				errs <- fmt.Errorf("call %d: got size %d; want %d (reply matched to the wrong call)", i, res.Attr.Size, 100+i)
			}
		}(i)
	}
	await.Until(t, fmt.Sprintf("all %d calls to reach the server", n), func() bool { return arrived.Load() == n })
	for i := n - 1; i >= 0; i-- { // answer the last call first, one at a time
		close(gates[i])
		await.Until(t, fmt.Sprintf("call %d to get its reply", i), func() bool { return answered.Load() == int64(n-i) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.accepts.Load(); got != 2 { // the MNT connection and one NFS connection
		t.Fatalf("got %d connections; want 2 (calls pipelined on one)", got)
	}
}

// TestNonIdempotentNotReplayed: a REMOVE whose connection drops after it
// was sent is not sent again; a GETATTR is, on a new connection.
func TestNonIdempotentNotReplayed(t *testing.T) {
	var s *fakeServer
	var dropNext atomic.Int64 // calls still to be dropped (with their connection)
	s = newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		if dropNext.Add(-1) >= 0 {
			go s.dropConns()
			return false
		}
		if h.Proc == nfs3.ProcRemove {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
			(&nfs3.RemoveRes{Status: nfs3.StatOK}).Encode(w)
			return true
		}
		getattrOK(h, w)
		return true
	})
	clk := clockwork.NewFakeClock()
	c := dialFake(t, s, Options{Conns: 1, Retries: 3, Clock: clk})
	dropNext.Store(1)
	_, err := c.Remove(context.Background(), &cred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: nfs3.FH{1}, Name: "x"}})
	if err == nil || Classify(err) != Retry {
		t.Fatalf("REMOVE on a dropped connection: %v; want a retryable error", err)
	}
	if n := s.calls[nfs3.ProcRemove].Load(); n != 1 {
		t.Fatalf("REMOVE sent %d times; want 1 (never replayed)", n)
	}
	// GETATTR: the first attempt is dropped, the retry succeeds.
	dropNext.Store(1)
	done := make(chan error, 1)
	go func() {
		_, err := c.Getattr(context.Background(), &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}})
		done <- err
	}()
	blockUntilWaiting(t, clk) // the retry's backoff
	clk.Advance(50 * time.Millisecond)
	if err := await.Recv(t, "the retried GETATTR", done); err != nil {
		t.Fatalf("GETATTR after a dropped connection: %v; want retried", err)
	}
	if n := s.calls[nfs3.ProcGetattr].Load(); n != 2 {
		t.Fatalf("GETATTR sent %d times; want 2 (dropped, then retried)", n)
	}
	if st := c.Stats(); st.Reconnects == 0 || st.Retries == 0 {
		t.Fatalf("stats %+v; want a reconnect and a retry", st)
	}
}

// blockUntilWaiting waits until a retry backoff waits on clk, besides the
// hang watchdog's ticker, which always does.
func blockUntilWaiting(t *testing.T, clk *clockwork.FakeClock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), await.Deadline)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 2); err != nil {
		t.Fatalf("waited %v for a retry backoff on the clock: %v", await.Deadline, err)
	}
}

// TestRetryBackoff: retries of a call that times out wait 50ms, then
// 100ms, then 200ms on the client's clock, and not a moment less. (Calls
// are left unanswered rather than their connection dropped: a call whose
// connection died twice with it in flight is not sent again, see
// TestCallThatKillsTheConnectionIsNotSentAThirdTime.)
func TestRetryBackoff(t *testing.T) {
	var silentNext atomic.Int64
	s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		if silentNext.Add(-1) >= 0 {
			return false // no reply: the attempt times out
		}
		getattrOK(h, w)
		return true
	})
	clk := clockwork.NewFakeClock()
	// The per-attempt deadline is real time (a socket deadline); the
	// backoff between attempts is on the fake clock.
	c := dialFake(t, s, Options{Conns: 1, Retries: 3, Clock: clk, CallTimeout: 100 * time.Millisecond})
	silentNext.Store(3)
	done := make(chan error, 1)
	go func() {
		_, err := c.Getattr(context.Background(), &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}})
		done <- err
	}()
	getattrs := func() int64 { return s.calls[nfs3.ProcGetattr].Load() }
	for i, backoff := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		await.Until(t, fmt.Sprintf("GETATTR attempt %d", i+1), func() bool { return getattrs() == int64(i+1) })
		blockUntilWaiting(t, clk)
		clk.Advance(backoff - time.Nanosecond)
		if got := getattrs(); got != int64(i+1) {
			t.Fatalf("before backoff %d (%v) elapsed: got %d attempts; want %d", i+1, backoff, got, i+1)
		}
		clk.Advance(time.Nanosecond)
	}
	if err := await.Recv(t, "the GETATTR after three retries", done); err != nil {
		t.Fatalf("GETATTR: got %v; want success on the fourth attempt", err)
	}
	if got := getattrs(); got != 4 {
		t.Fatalf("got %d GETATTR attempts; want 4", got)
	}
	if st := c.Stats(); st.Retries != 3 {
		t.Fatalf("got %d retries; want 3", st.Retries)
	}
}

// TestMalformedReplyIsError: garbage in a reply is an error, not a panic.
func TestMalformedReplyIsError(t *testing.T) {
	s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
		w.Uint32(0)  // NFS3_OK
		w.Uint32(99) // ftype out of range
		return true
	})
	c := dialFake(t, s, Options{Conns: 1})
	if _, err := c.Getattr(context.Background(), &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}}); !errors.Is(err, ErrBadReply) {
		t.Fatalf("got %v; want ErrBadReply", err)
	}
}

// TestDeadlineAbandonsCall: a call the server never answers ends at its
// context's deadline, and the connection keeps serving other calls.
func TestDeadlineAbandonsCall(t *testing.T) {
	s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		if h.Proc == nfs3.ProcRead {
			return false // never answered
		}
		getattrOK(h, w)
		return true
	})
	c := dialFake(t, s, Options{Conns: 1, Retries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Read(ctx, &cred, &nfs3.ReadArgs{File: nfs3.FH{1}, Count: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered READ: %v; want deadline exceeded", err)
	}
	if _, err := c.Getattr(context.Background(), &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}}); err != nil {
		t.Fatalf("GETATTR after an abandoned call: %v", err)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
