package integration

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
	"github.com/nfscacheproxy/nfscacheproxy/nlm"
	"github.com/nfscacheproxy/nfscacheproxy/portmap"
)

// lockEnv is a ganesha serving NLM, the proxy in front of it with its NLM
// server forwarding to ganesha's, a lock client of the proxy ("clientA",
// with an NLM callback service found through its own portmapper, as the
// Linux client's lockd is) and a lock client of ganesha itself ("hostB").
type lockEnv struct {
	*env
	srv     *nlm.Server
	viaProx *nlm.Client
	direct  *nlm.Client
	granted chan nlm.TestArgs // GRANTED callbacks clientA received
	pfh     []byte            // the locked file through the proxy
	ufh     []byte            // and at ganesha
}

func startLockEnv(t *testing.T, o envOptions) *lockEnv {
	t.Helper()
	o.nlm = true
	e := startEnvWith(t, o)
	le := &lockEnv{env: e, granted: make(chan nlm.TestArgs, 8)}
	pc, dc := e.proxyClient(0, 0), e.directClient(0, 0)
	if _, st := pc.create(pc.root(), "locked", 0o666); st != 0 {
		t.Fatalf("create through the proxy: %v", st)
	}
	le.pfh = pc.mustLookup(pc.root(), "locked")
	le.ufh = dc.mustLookup(dc.root(), "locked")

	// clientA's NLM callback service and the portmapper that names it.
	cbPort := startCallSink(t, func(h *rpc.CallHeader, r *xdr.Reader, w *xdr.Writer) {
		var a nlm.TestArgs
		if h.Prog != nlm.Program || h.Proc != nlm.ProcGranted || a.Decode(r) != nil {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
			return
		}
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
		(&nlm.Res{Cookie: a.Cookie, Stat: nlm.Granted}).Encode(w)
		a.Lock.FH = append([]byte(nil), a.Lock.FH...)
		le.granted <- a
	})
	pmPort := startTestPortmap(t, portmap.Mapping{Prog: nlm.Program, Vers: nlm.Version4, Netid: "tcp", Port: uint32(cbPort)})

	upNLM := net.JoinHostPort(e.g.Host, strconv.Itoa(e.g.NLMPort))
	up := nlm.NewClient(upNLM, nlm.Program, nlm.Version4, "proxy-itest")
	t.Cleanup(func() { up.Close() })
	srv, err := nlm.New(nlm.Options{
		Name: "proxy-itest", Files: e.srv.LockFiles(), Upstreams: map[uint16]nlm.Upstream{testVolume: up},
		// Retried often, so the test is quick; the test waits for the
		// GRANTED callback itself, not for a time.
		PollInterval:      50 * time.Millisecond,
		ClientPortmapPort: pmPort,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	le.srv = srv
	le.viaProx = nlm.NewClient(l.Addr().String(), nlm.Program, nlm.Version4, "clientA")
	t.Cleanup(func() { le.viaProx.Close() })
	le.direct = nlm.NewClient(upNLM, nlm.Program, nlm.Version4, "hostB")
	t.Cleanup(func() { le.direct.Close() })
	return le
}

func (le *lockEnv) lockA(svid int32, off, n uint64) nlm.Lock {
	return nlm.Lock{CallerName: "clientA", FH: le.pfh, OH: []byte(strconv.Itoa(int(svid)) + "@clientA"), Svid: svid, Offset: off, Len: n}
}

func (le *lockEnv) lockB(svid int32, off, n uint64) nlm.Lock {
	return nlm.Lock{CallerName: "hostB", FH: le.ufh, OH: []byte(strconv.Itoa(int(svid)) + "@hostB"), Svid: svid, Offset: off, Len: n}
}

func nlmCall(t *testing.T, c *nlm.Client, proc uint32, args xdr.Encoder, res xdr.Decoder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.Call(ctx, proc, args, res); err != nil {
		t.Fatalf("NLM call %d to %s: %v", proc, c.Addr(), err)
	}
}

// callSink is a minimal ONC RPC service over TCP, as a client host runs
// one (its lockd taking GRANTED, its statd taking SM_NOTIFY): handle
// answers each call.
type callSink struct {
	l      net.Listener
	handle func(h *rpc.CallHeader, r *xdr.Reader, w *xdr.Writer)
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

// startCallSink serves handle on a loopback port until the test ends and
// returns the port.
func startCallSink(t *testing.T, handle func(h *rpc.CallHeader, r *xdr.Reader, w *xdr.Writer)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &callSink{l: l, handle: handle}
	cs.wg.Add(1)
	go cs.serve()
	t.Cleanup(cs.close)
	return l.Addr().(*net.TCPAddr).Port
}

func (g *callSink) serve() {
	defer g.wg.Done()
	for {
		nc, err := g.l.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		g.conns = append(g.conns, nc)
		g.mu.Unlock()
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer nc.Close()
			br := bufio.NewReader(nc)
			for {
				rec, err := rpc.ReadRecord(br, nil, 1<<16)
				if err != nil {
					return
				}
				r := xdr.NewReader(rec)
				var h rpc.CallHeader
				if rpc.DecodeCall(r, &h) != nil {
					return
				}
				w := xdr.NewWriter(nil)
				w.Uint32(0)
				g.handle(&h, r, w)
				rpc.SetRecordHeader(w.Buf)
				if _, err := nc.Write(w.Buf); err != nil {
					return
				}
			}
		}()
	}
}

func (g *callSink) close() {
	g.l.Close()
	g.mu.Lock()
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// startTestPortmap serves a portmapper with mappings on a loopback port
// until the test ends and returns the port.
func startTestPortmap(t *testing.T, mappings ...portmap.Mapping) int {
	t.Helper()
	pm, err := portmap.New(portmap.Options{Mappings: mappings})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); pm.Serve(l) }()
	t.Cleanup(func() { pm.Close(); <-done })
	return l.Addr().(*net.TCPAddr).Port
}

// TestLocksContendThroughProxyAndDirect: a lock taken through the proxy
// and one taken directly at ganesha exclude each other; TEST reports the
// holder on both sides; a blocking LOCK through the proxy is granted (by
// a GRANTED callback to the client) once the direct holder unlocks.
func TestLocksContendThroughProxyAndDirect(t *testing.T) {
	le := startLockEnv(t, envOptions{})
	var res nlm.Res
	var tr nlm.TestRes

	nlmCall(t, le.viaProx, nlm.ProcLock, &nlm.LockArgs{Cookie: []byte("a1"), Exclusive: true, Lock: le.lockA(1, 0, 100), State: 1}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("LOCK through the proxy: got %v; want granted", res.Stat)
	}
	nlmCall(t, le.direct, nlm.ProcTest, &nlm.TestArgs{Exclusive: true, Lock: le.lockB(500, 50, 10)}, &tr)
	if tr.Stat != nlm.Denied || tr.Holder.Offset != 0 || tr.Holder.Len != 100 || !tr.Holder.Exclusive {
		t.Fatalf("TEST at ganesha: got %v %+v; want denied by an exclusive 0+100", tr.Stat, tr.Holder)
	}
	nlmCall(t, le.direct, nlm.ProcLock, &nlm.LockArgs{Exclusive: true, Lock: le.lockB(500, 50, 10), State: 1}, &res)
	if res.Stat != nlm.Denied {
		t.Fatalf("non-blocking LOCK at ganesha while held through the proxy: got %v; want denied", res.Stat)
	}
	// A range that does not overlap is free.
	nlmCall(t, le.direct, nlm.ProcLock, &nlm.LockArgs{Exclusive: true, Lock: le.lockB(500, 200, 10), State: 1}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("LOCK at ganesha of a range not held: got %v; want granted", res.Stat)
	}
	nlmCall(t, le.viaProx, nlm.ProcTest, &nlm.TestArgs{Exclusive: true, Lock: le.lockA(2, 0, 0)}, &tr)
	if tr.Stat != nlm.Denied {
		t.Fatalf("TEST through the proxy of the whole file: got %v; want denied", tr.Stat)
	}
	nlmCall(t, le.viaProx, nlm.ProcUnlock, &nlm.UnlockArgs{Lock: le.lockA(1, 0, 100)}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("UNLOCK through the proxy: got %v; want granted", res.Stat)
	}
	nlmCall(t, le.direct, nlm.ProcLock, &nlm.LockArgs{Exclusive: true, Lock: le.lockB(500, 50, 10), State: 1}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("LOCK at ganesha after the proxy's client unlocked: got %v; want granted", res.Stat)
	}

	// hostB now holds 50+10 (and 200+10). clientA's TEST through the proxy
	// names it; its non-blocking LOCK is denied; its blocking LOCK waits.
	nlmCall(t, le.viaProx, nlm.ProcTest, &nlm.TestArgs{Exclusive: true, Lock: le.lockA(1, 0, 100)}, &tr)
	if tr.Stat != nlm.Denied || tr.Holder.Svid != 500 || tr.Holder.Offset != 50 || tr.Holder.Len != 10 {
		t.Fatalf("TEST through the proxy: got %v %+v; want denied by svid 500 at 50+10", tr.Stat, tr.Holder)
	}
	nlmCall(t, le.viaProx, nlm.ProcLock, &nlm.LockArgs{Exclusive: true, Lock: le.lockA(1, 0, 100), State: 1}, &res)
	if res.Stat != nlm.Denied {
		t.Fatalf("non-blocking LOCK through the proxy while held at ganesha: got %v; want denied", res.Stat)
	}
	nlmCall(t, le.viaProx, nlm.ProcLock, &nlm.LockArgs{Cookie: []byte("wait"), Block: true, Exclusive: true, Lock: le.lockA(1, 0, 100), State: 1}, &res)
	if res.Stat != nlm.Blocked {
		t.Fatalf("blocking LOCK through the proxy while held at ganesha: got %v; want blocked", res.Stat)
	}
	select {
	case g := <-le.granted:
		t.Fatalf("GRANTED while hostB still holds the range: %+v", g)
	default:
	}
	nlmCall(t, le.direct, nlm.ProcUnlock, &nlm.UnlockArgs{Lock: le.lockB(500, 50, 10)}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("UNLOCK at ganesha: got %v; want granted", res.Stat)
	}
	var g nlm.TestArgs
	select {
	case g = <-le.granted:
	case <-time.After(60 * time.Second):
		t.Fatal("no GRANTED callback within 60s after hostB unlocked")
	}
	if string(g.Cookie) != "wait" || g.Lock.Svid != 1 || string(g.Lock.FH) != string(le.pfh) || g.Lock.Offset != 0 || g.Lock.Len != 100 {
		t.Fatalf("GRANTED: got %+v; want clientA's own request (cookie wait, svid 1, proxy handle, 0+100)", g)
	}
	nlmCall(t, le.direct, nlm.ProcLock, &nlm.LockArgs{Exclusive: true, Lock: le.lockB(500, 50, 10), State: 1}, &res)
	if res.Stat != nlm.Denied {
		t.Fatalf("LOCK at ganesha after clientA was granted: got %v; want denied", res.Stat)
	}
	// A client "reboot": FREE_ALL for clientA releases its locks at ganesha.
	nlmCall(t, le.viaProx, nlm.ProcFreeAll, &nlm.NotifyArgs{Name: "clientA", State: 3}, nlm.Void)
	nlmCall(t, le.direct, nlm.ProcLock, &nlm.LockArgs{Exclusive: true, Lock: le.lockB(500, 50, 10), State: 1}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("LOCK at ganesha after clientA's FREE_ALL: got %v; want granted", res.Stat)
	}
}

// TestLockRevalidatesCache: a client that takes a lock through the proxy
// then reads what another client wrote directly at ganesha, even from a
// static volume whose caches would otherwise never revalidate: the grant
// drops the file's cached attributes, and the data cache is checked
// against the fresh ones.
func TestLockRevalidatesCache(t *testing.T) {
	le := startLockEnv(t, envOptions{cacheDir: "temp", coherency: coherency.Options{Mode: coherency.ModeStatic}})
	pc, dc := le.proxyClient(0, 0), le.directClient(0, 0)
	if w := pc.write(le.pfh, 0, []byte("first version"), nfs3.FileSync); w.Status != nfs3.StatOK {
		t.Fatalf("write through the proxy: %v", w.Status)
	}
	if got := string(pc.readAll(le.pfh)); got != "first version" {
		t.Fatalf("read through the proxy: got %q; want %q", got, "first version")
	}
	if w := dc.write(le.ufh, 0, []byte("second, longer version"), nfs3.FileSync); w.Status != nfs3.StatOK {
		t.Fatalf("write at ganesha: %v", w.Status)
	}
	// The premise: without a lock, the static volume serves what it cached.
	if got := string(pc.readAll(le.pfh)); got != "first version" {
		t.Fatalf("read through the proxy before locking: got %q; want the cached %q (static volume)", got, "first version")
	}
	var res nlm.Res
	nlmCall(t, le.viaProx, nlm.ProcLock, &nlm.LockArgs{Exclusive: false, Lock: le.lockA(1, 0, 0), State: 1}, &res)
	if res.Stat != nlm.Granted {
		t.Fatalf("LOCK through the proxy: got %v; want granted", res.Stat)
	}
	if got := string(pc.readAll(le.pfh)); got != "second, longer version" {
		t.Fatalf("read under the lock: got %q; want what ganesha holds, %q", got, "second, longer version")
	}
}
