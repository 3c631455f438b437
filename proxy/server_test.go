package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// startProxy serves a proxy on loopback in front of up and returns its address.
func startProxy(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, l.Addr().String()
}

// startDemoProxy runs the in-process go-nfs upstream with the proxy in front.
func startDemoProxy(t *testing.T) (*Server, string, *upstream.Client) {
	t.Helper()
	d, err := demoserver.Start(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up, err := upstream.Dial(ctx, upstream.Options{Server: "127.0.0.1", Export: "/export", NFSPort: d.Port(), MountPort: d.Port(), UnprivilegedPort: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	return s, addr, up
}

// rawClient speaks record-marked RPC by hand, so tests can send anything.
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc}
}

func (c *rawClient) sendRecord(body []byte) {
	c.t.Helper()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<31|uint32(len(body)))
	if _, err := c.nc.Write(append(hdr[:], body...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) readReply() []byte {
	c.t.Helper()
	// A guard against a hang, not a bound under test: a reply can queue
	// behind slow upstream calls on a loaded machine.
	c.nc.SetReadDeadline(time.Now().Add(await.Deadline))
	rec, err := rpc.ReadRecord(c.nc, nil, 8<<20)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return rec
}

var testCred = rpc.Cred{Flavor: rpc.AuthSys, Machine: "test"}

func callBody(xid, prog, vers, proc uint32, cred *rpc.Cred, args xdr.Encoder) []byte {
	w := xdr.NewWriter(nil)
	rpc.EncodeCall(w, xid, prog, vers, proc, cred)
	if args != nil {
		args.Encode(w)
	}
	return w.Bytes()
}

// replyHead decodes a reply and returns its xid and error (nil for SUCCESS)
// with the reader at the results.
func replyHead(t *testing.T, rec []byte) (uint32, *xdr.Reader, error) {
	t.Helper()
	r := xdr.NewReader(rec)
	xid, err := rpc.DecodeReply(r)
	return xid, r, err
}

func TestRPCErrorReplies(t *testing.T) {
	_, addr, up := startDemoProxy(t)
	root := appendHandle(nil, 7, up.Root())
	badGroups := testCred
	badGroups.NGids = 16
	tooMany := func() []byte { // AUTH_SYS with 17 groups, built by hand
		w := xdr.NewWriter(nil)
		w.Uint32(42)
		w.Uint32(rpc.Call)
		w.Uint32(2)
		w.Uint32(nfs3.Program)
		w.Uint32(3)
		w.Uint32(nfs3.ProcGetattr)
		w.Uint32(rpc.AuthSys)
		body := xdr.NewWriter(nil)
		body.Uint32(0)
		body.String("x")
		body.Uint32(0)
		body.Uint32(0)
		body.Uint32(17)
		for i := 0; i < 17; i++ {
			body.Uint32(uint32(i))
		}
		w.Opaque(body.Bytes())
		w.Uint32(0)
		w.Uint32(0)
		(&nfs3.GetattrArgs{Object: root}).Encode(w)
		return w.Bytes()
	}()
	gssCall := func() []byte { // RPCSEC_GSS (flavor 6) credential
		w := xdr.NewWriter(nil)
		for _, v := range []uint32{11, rpc.Call, 2, nfs3.Program, 3, 0, 6} {
			w.Uint32(v)
		}
		w.Opaque([]byte{1, 2, 3, 4})
		w.Uint32(0)
		w.Uint32(0)
		return w.Bytes()
	}()
	tests := []struct {
		name string
		body []byte
		want *rpc.ReplyError // nil: SUCCESS
	}{
		{"null", callBody(1, nfs3.Program, 3, 0, &testCred, nil), nil},
		{"mount null", callBody(2, nfs3.MountProgram, 3, 0, &testCred, nil), nil},
		{"unknown program", callBody(3, 100099, 1, 0, &testCred, nil), &rpc.ReplyError{AcceptStat: rpc.ProgUnavail}},
		{"nfs v4", callBody(4, nfs3.Program, 4, 0, &testCred, nil), &rpc.ReplyError{AcceptStat: rpc.ProgMismatch, Low: 3, High: 3}},
		{"mount v1", callBody(5, nfs3.MountProgram, 1, 0, &testCred, nil), &rpc.ReplyError{AcceptStat: rpc.ProgMismatch, Low: 3, High: 3}},
		{"nfs proc 22", callBody(6, nfs3.Program, 3, 22, &testCred, nil), &rpc.ReplyError{AcceptStat: rpc.ProcUnavail}},
		{"mount proc 6", callBody(7, nfs3.MountProgram, 3, 6, &testCred, nil), &rpc.ReplyError{AcceptStat: rpc.ProcUnavail}},
		{"garbage getattr args", callBody(8, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, nil), &rpc.ReplyError{AcceptStat: rpc.GarbageArgs}},
		{"garbage write args", append(callBody(9, nfs3.Program, 3, nfs3.ProcWrite, &testCred, nil), 0, 0, 0, 200), &rpc.ReplyError{AcceptStat: rpc.GarbageArgs}},
		{"too many groups", tooMany, &rpc.ReplyError{Denied: true, RejectStat: rpc.AuthError, AuthStat: rpc.AuthBadCred}},
		{"unsupported flavor", gssCall, &rpc.ReplyError{Denied: true, RejectStat: rpc.AuthError, AuthStat: rpc.AuthRejectedCred}},
	}
	c := dialRaw(t, addr)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.sendRecord(tt.body)
			_, _, err := replyHead(t, c.readReply())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v; want success", err)
				}
				return
			}
			var re *rpc.ReplyError
			if !errors.As(err, &re) || *re != *tt.want {
				t.Fatalf("got %v (%+v); want %+v", err, re, *tt.want)
			}
		})
	}
	// A wrong RPC version is denied with the supported range.
	w := xdr.NewWriter(nil)
	w.Uint32(12)
	w.Uint32(rpc.Call)
	w.Uint32(3)
	c.sendRecord(append(w.Bytes(), make([]byte, 40)...))
	_, _, err := replyHead(t, c.readReply())
	var re *rpc.ReplyError
	if !errors.As(err, &re) || !re.Denied || re.RejectStat != rpc.RPCMismatch || re.Low != 2 || re.High != 2 {
		t.Fatalf("rpc version 3: got %v; want RPC_MISMATCH 2-2", err)
	}
}

func getattr3(t *testing.T, c *rawClient, xid uint32, fh []byte) nfs3.GetattrRes {
	t.Helper()
	c.sendRecord(callBody(xid, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: fh}))
	gotXID, r, err := replyHead(t, c.readReply())
	if err != nil || gotXID != xid {
		t.Fatalf("getattr reply xid %d err %v; want xid %d success", gotXID, err, xid)
	}
	var res nfs3.GetattrRes
	if err := res.Decode(r); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBadHandles(t *testing.T) {
	_, addr, up := startDemoProxy(t)
	c := dialRaw(t, addr)
	tests := []struct {
		name string
		fh   []byte
	}{
		{"unknown volume", appendHandle(nil, 8, up.Root())},
		{"unknown version", append([]byte{2, 0, 0, 7}, up.Root()...)},
		{"too short", []byte{1, 0, 0}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := getattr3(t, c, uint32(100+i), tt.fh); res.Status != nfs3.StatBadHandle {
				t.Fatalf("got %v; want NFS3ERR_BADHANDLE", res.Status)
			}
		})
	}
	if res := getattr3(t, c, 200, appendHandle(nil, 7, up.Root())); res.Status != nfs3.StatOK || res.Attr.Type != nfs3.TypeDir {
		t.Fatalf("root getattr: got %v type %v; want OK dir", res.Status, res.Attr.Type)
	}
}

func TestMalformedStreamsKeepServerUp(t *testing.T) {
	s, addr, up := startDemoProxy(t)
	root := appendHandle(nil, 7, up.Root())

	// A record bigger than MaxRecord closes that connection only.
	big := dialRaw(t, addr)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<31|uint32(s.opts.MaxRecord+1))
	big.nc.Write(hdr[:])
	big.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := big.nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("oversized record: connection still open; want closed")
	}

	// Half a record, then the client goes away.
	half := dialRaw(t, addr)
	binary.BigEndian.PutUint32(hdr[:], 1<<31|100)
	half.nc.Write(append(hdr[:], 1, 2, 3))
	half.nc.Close()

	// A header that is not a call is dropped without a reply; the
	// connection still serves the next call.
	c := dialRaw(t, addr)
	c.sendRecord([]byte{0, 0, 0, 1, 0, 0, 0, 1})
	c.sendRecord([]byte{1})
	if res := getattr3(t, c, 301, root); res.Status != nfs3.StatOK {
		t.Fatalf("after garbage: got %v; want OK", res.Status)
	}

	// Multi-fragment records are reassembled.
	body := callBody(302, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: root})
	var frames []byte
	for i := 0; i < len(body); i += 5 {
		end := min(i+5, len(body))
		h := uint32(end - i)
		if end == len(body) {
			h |= 1 << 31
		}
		frames = binary.BigEndian.AppendUint32(frames, h)
		frames = append(frames, body[i:end]...)
	}
	c.nc.Write(frames)
	xid, r, err := replyHead(t, c.readReply())
	var res nfs3.GetattrRes
	if err != nil || xid != 302 || res.Decode(r) != nil || res.Status != nfs3.StatOK {
		t.Fatalf("multi-fragment getattr: xid %d err %v status %v; want 302 OK", xid, err, res.Status)
	}
	if got := s.Stats().BadRecords; got != 1 {
		t.Fatalf("BadRecords = %d; want 1", got)
	}
}

// fakeUpstream lets tests control what the upstream does.
type fakeUpstream struct {
	root nfs3.FH
	call func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error
}

func (f *fakeUpstream) Root() nfs3.FH { return f.root }
func (f *fakeUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	return f.call(ctx, proc, args, res)
}

func TestPanicIsRecovered(t *testing.T) {
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(context.Context, uint32, xdr.Encoder, xdr.Decoder) error {
		panic("boom")
	}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	c := dialRaw(t, addr)
	c.sendRecord(callBody(1, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: appendHandle(nil, 1, up.root)}))
	_, _, err := replyHead(t, c.readReply())
	var re *rpc.ReplyError
	if !errors.As(err, &re) || re.AcceptStat != rpc.SystemErr {
		t.Fatalf("got %v; want SYSTEM_ERR", err)
	}
	c.sendRecord(callBody(2, nfs3.Program, 3, 0, &testCred, nil))
	if _, _, err := replyHead(t, c.readReply()); err != nil {
		t.Fatalf("NULL after panic: %v", err)
	}
	if s.Stats().Panics != 1 {
		t.Fatalf("Panics = %d; want 1", s.Stats().Panics)
	}
}

// TestRequestsRunConcurrently holds one request in the upstream while a
// second one on the same connection completes: replies go out of order.
func TestRequestsRunConcurrently(t *testing.T) {
	release := make(chan struct{})
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
		if proc == nfs3.ProcRead {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}}
	_, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	c := dialRaw(t, addr)
	fh := appendHandle(nil, 1, up.root)
	c.sendRecord(callBody(1, nfs3.Program, 3, nfs3.ProcRead, &testCred, &nfs3.ReadArgs{File: fh, Count: 10}))
	c.sendRecord(callBody(2, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: fh}))
	xid, _, err := replyHead(t, c.readReply())
	if err != nil || xid != 2 {
		t.Fatalf("first reply xid %d err %v; want 2 (GETATTR overtakes the held READ)", xid, err)
	}
	close(release)
	if xid, _, err := replyHead(t, c.readReply()); err != nil || xid != 1 {
		t.Fatalf("second reply xid %d err %v; want 1", xid, err)
	}
}

// TestPerConnectionBound: with PerConnLimit requests held, the server stops
// reading that connection, but other connections are served.
func TestPerConnectionBound(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	held := 0
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
		if proc == nfs3.ProcRead {
			mu.Lock()
			held++
			mu.Unlock()
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}}
	s, addr := startProxy(t, Options{PerConnLimit: 4, GlobalLimit: 8, Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	fh := appendHandle(nil, 1, up.root)
	c := dialRaw(t, addr)
	for i := 0; i < 10; i++ {
		c.sendRecord(callBody(uint32(i), nfs3.Program, 3, nfs3.ProcRead, &testCred, &nfs3.ReadArgs{File: fh, Count: 10}))
	}
	other := dialRaw(t, addr)
	other.sendRecord(callBody(99, nfs3.Program, 3, 0, &testCred, nil))
	if xid, _, err := replyHead(t, other.readReply()); err != nil || xid != 99 {
		t.Fatalf("other connection: xid %d err %v; want 99 served", xid, err)
	}
	// Wait for the first connection's READs to reach the upstream and the
	// other connection's NULL (which may still be on its way out) to end:
	// then only held READs are in flight, and there must be 4 of them.
	heldNow := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return int64(held)
	}
	await.Until(t, "READs held in the upstream and nothing else in flight", func() bool {
		h := heldNow()
		return h >= 4 && s.Stats().InFlight == h
	})
	if got, inflight := heldNow(), s.Stats().InFlight; got != 4 || inflight != 4 {
		t.Fatalf("held %d, in flight %d; want 4 and 4 (PerConnLimit)", got, inflight)
	}
	close(release)
	seen := map[uint32]bool{}
	for i := 0; i < 10; i++ {
		xid, _, err := replyHead(t, c.readReply())
		if err != nil {
			t.Fatal(err)
		}
		seen[xid] = true
	}
	if len(seen) != 10 {
		t.Fatalf("got %d distinct replies; want 10", len(seen))
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(context.Context, uint32, xdr.Encoder, xdr.Decoder) error { return nil }}
	s, err := New(Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	for i := 0; i < 5; i++ {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
	}
	await.Until(t, "5 connections served", func() bool { return s.Stats().Connections == 5 })
	s.Close()
	if err := await.Recv(t, "Serve to return", served); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: got %v; want ErrClosed", err)
	}
	// Close waited for every goroutine of the server; the runtime may
	// take a moment to count them gone.
	if !await.Poll(await.Deadline, func() bool { return runtime.NumGoroutine() <= before }) {
		n := runtime.NumGoroutine()
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close; want %d\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

var _ = io.EOF
var _ = bytes.Equal

// TestRetransmissionAnsweredFromDRC: a REMOVE retransmitted with the same
// xid (even on a new connection) gets the original reply and does not run
// again.
func TestRetransmissionAnsweredFromDRC(t *testing.T) {
	calls := 0
	var mu sync.Mutex
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
		if proc == nfs3.ProcRemove {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n > 1 {
				res.(*nfs3.RemoveRes).Status = nfs3.StatNoEnt // what a second run would say
			}
		}
		return nil
	}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	body := callBody(77, nfs3.Program, 3, nfs3.ProcRemove, &testCred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: appendHandle(nil, 1, up.root), Name: "f"}})
	status := func(c *rawClient) nfs3.Stat {
		c.sendRecord(body)
		_, r, err := replyHead(t, c.readReply())
		var res nfs3.RemoveRes
		if err != nil || res.Decode(r) != nil {
			t.Fatalf("remove reply: %v", err)
		}
		return res.Status
	}
	if st := status(dialRaw(t, addr)); st != nfs3.StatOK {
		t.Fatalf("first REMOVE: %v; want OK", st)
	}
	if st := status(dialRaw(t, addr)); st != nfs3.StatOK {
		t.Fatalf("retransmitted REMOVE: %v; want the original OK", st)
	}
	if calls != 1 || s.Stats().DRCHits != 1 {
		t.Fatalf("upstream REMOVE calls %d, DRC hits %d; want 1 and 1", calls, s.Stats().DRCHits)
	}
	// A different xid is a new call.
	body = callBody(78, nfs3.Program, 3, nfs3.ProcRemove, &testCred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: appendHandle(nil, 1, up.root), Name: "f"}})
	if st := status(dialRaw(t, addr)); st != nfs3.StatNoEnt {
		t.Fatalf("new REMOVE: %v; want NOENT from a second run", st)
	}
}

// TestDRCEntriesExpire: a retransmission is answered from the DRC until
// the entry is drcTTL old by the server's clock; after that the same xid
// runs again. The clock is fake: the test advances it.
func TestDRCEntriesExpire(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
		if proc == nfs3.ProcRemove {
			mu.Lock()
			calls++
			if calls > 1 {
				res.(*nfs3.RemoveRes).Status = nfs3.StatNoEnt // what a second run would say
			}
			mu.Unlock()
		}
		return nil
	}}
	clock := clockwork.NewFakeClock()
	s, addr := startProxy(t, Options{Clock: clock, Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	c := dialRaw(t, addr)
	body := callBody(77, nfs3.Program, 3, nfs3.ProcRemove, &testCred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: appendHandle(nil, 1, up.root), Name: "f"}})
	steps := []struct {
		name      string
		advance   time.Duration // before sending
		want      nfs3.Stat
		wantCalls int
		wantHits  int64
	}{
		{"first call runs", 0, nfs3.StatOK, 1, 0},
		{"retransmission at once", 0, nfs3.StatOK, 1, 1},
		{"retransmission just inside the TTL", drcTTL - time.Second, nfs3.StatOK, 1, 2},
		// The entry's age counts from the original call, not from hits.
		{"retransmission at the TTL runs again", time.Second, nfs3.StatNoEnt, 2, 2},
		{"its retransmission is answered from the new entry", drcTTL - time.Second, nfs3.StatNoEnt, 2, 3},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		c.sendRecord(body)
		xid, r, err := replyHead(t, c.readReply())
		var res nfs3.RemoveRes
		if err != nil || xid != 77 || res.Decode(r) != nil {
			t.Fatalf("step %d (%s): reply xid %d err %v; want xid 77 success", i, st.name, xid, err)
		}
		mu.Lock()
		gotCalls := calls
		mu.Unlock()
		if res.Status != st.want || gotCalls != st.wantCalls || s.Stats().DRCHits != st.wantHits {
			t.Errorf("step %d (%s): got status %v, upstream calls %d, DRC hits %d; want %v, %d, %d",
				i, st.name, res.Status, gotCalls, s.Stats().DRCHits, st.want, st.wantCalls, st.wantHits)
		}
	}
}
