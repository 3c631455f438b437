package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// The connection-abuse tests (issue 7): idle connections, stalled records,
// clients that never read their replies, and the connection cap. Each one
// fails if the bound it names regresses; the numbers are logged (go test -v).

// demoProxy is the go-nfs upstream over dir with a proxy configured by opts
// in front (volume 7, "/export").
type demoProxy struct {
	s    *Server
	addr string
	up   *upstream.Client
	dir  string
}

func startDemoProxyWith(t *testing.T, opts Options) *demoProxy {
	t.Helper()
	dir := t.TempDir()
	d, err := demoserver.Start(dir, "")
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
	opts.Volumes = []Volume{{ID: 7, Name: "/export", Upstream: up}}
	s, addr := startProxy(t, opts)
	return &demoProxy{s: s, addr: addr, up: up, dir: dir}
}

func (p *demoProxy) root() []byte { return appendHandle(nil, 7, p.up.Root()) }

// lookup returns the proxy handle of name in the export root.
func (p *demoProxy) lookup(t *testing.T, name string) []byte {
	t.Helper()
	res, err := p.up.Lookup(t.Context(), &testCred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: p.up.Root(), Name: name}})
	if err != nil || res.Status != nfs3.StatOK {
		t.Fatalf("lookup %s: %v %v", name, err, res.Status)
	}
	return appendHandle(nil, 7, res.Object)
}

// memSample is the process's goroutines and live memory after a GC.
type memSample struct {
	goroutines   int
	heap, stacks uint64
}

func sampleMem() memSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSample{goroutines: runtime.NumGoroutine(), heap: m.HeapAlloc, stacks: m.StackInuse}
}

// bytesOver returns the live bytes (heap and stacks) of s above base.
func (s memSample) bytesOver(base memSample) int64 {
	return int64(s.heap+s.stacks) - int64(base.heap+base.stacks)
}

// dialIdle opens n connections that send nothing, closed in cleanup.
func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	for range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, nc)
	}
	return conns
}

// closedByServer reports whether the server has closed nc: a read returns
// EOF or a reset within await.Deadline (anything the server wrote is
// drained first). It returns as soon as the close is seen.
func closedByServer(nc net.Conn) bool {
	nc.SetReadDeadline(time.Now().Add(await.Deadline))
	buf := make([]byte, 64<<10)
	for {
		if _, err := nc.Read(buf); err != nil {
			return !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

// TestManyIdleConnections: 2000 connections that send nothing cost one
// goroutine and a few KiB each, and do not stop other clients from being
// served — with the default bounds, whose global in-flight limit (1024) is
// below the number of idle connections. (All come from 127.0.0.1, so the
// per-client bound is lifted to the global one here.)
func TestManyIdleConnections(t *testing.T) {
	const n = 2000
	p := startDemoProxyWith(t, Options{MaxConnsPerClient: 4096})
	root := p.root()
	active := dialRaw(t, p.addr)
	getattr3(t, active, 1, root) // warm: pools, upstream connection
	before := sampleMem()

	idle := dialIdle(t, p.addr, n)
	await.Until(t, "2001 connections", func() bool { return p.s.Stats().Connections == n+1 })
	during := sampleMem()
	perConn := during.bytesOver(before) / n
	t.Logf("%d idle connections: goroutines %d -> %d, heap %d -> %d KiB, stacks %d -> %d KiB: %.1f KiB per connection",
		n, before.goroutines, during.goroutines, before.heap>>10, during.heap>>10, before.stacks>>10, during.stacks>>10, float64(perConn)/1024)
	if g := during.goroutines - before.goroutines; g > n+n/20 {
		t.Errorf("goroutines grew by %d for %d idle connections; want at most one each (+5%%)", g, n)
	}
	if perConn > 24<<10 {
		t.Errorf("%d bytes of heap and stack per idle connection; want at most 24 KiB", perConn)
	}
	if got := p.s.Stats().InFlight; got != 0 {
		t.Errorf("InFlight = %d with only idle connections; want 0", got)
	}

	// Other clients are served: the one connected before and a new one.
	if res := getattr3(t, active, 2, root); res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR on the active connection: %v", res.Status)
	}
	if res := getattr3(t, dialRaw(t, p.addr), 3, root); res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR on a new connection: %v", res.Status)
	}

	// An idle connection that wakes up is served too.
	late := &rawClient{t: t, nc: idle[n/2]}
	if res := getattr3(t, late, 4, root); res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR on a connection idle until now: %v", res.Status)
	}

	for _, nc := range idle {
		nc.Close()
	}
	await.Until(t, "the idle connections to end", func() bool { return p.s.Stats().Connections == 2 })
	await.Until(t, "their goroutines to end", func() bool { return runtime.NumGoroutine() <= before.goroutines+5 })
}

// TestIdleTimeoutClosesIdleConnections: with a short IdleTimeout, idle
// connections are closed and counted, while a connection that sends a
// request more often than that stays open.
func TestIdleTimeoutClosesIdleConnections(t *testing.T) {
	const n, idleTimeout = 200, time.Second
	p := startDemoProxyWith(t, Options{IdleTimeout: idleTimeout})
	active := dialRaw(t, p.addr)
	idle := dialIdle(t, p.addr, n)
	await.Until(t, "the connections", func() bool { return p.s.Stats().Connections == n+1 })

	// The active client sends a NULL every tenth of the timeout for three
	// timeouts: each request restarts its idle clock.
	for i := range 30 {
		active.sendRecord(callBody(uint32(i), nfs3.Program, 3, 0, &testCred, nil))
		if _, _, err := replyHead(t, active.readReply()); err != nil {
			t.Fatalf("NULL %d on the active connection: %v", i, err)
		}
		time.Sleep(idleTimeout / 10) // the client's pause between requests is the behaviour under test
	}
	for i, nc := range idle {
		if !closedByServer(nc) {
			t.Fatalf("idle connection %d still open after %v", i, 3*idleTimeout)
		}
	}
	await.Until(t, "one connection left", func() bool { return p.s.Stats().Connections == 1 })
	if got := p.s.ConnStats().IdleClosed; got != n {
		t.Errorf("IdleClosed = %d; want %d", got, n)
	}
	active.sendRecord(callBody(99, nfs3.Program, 3, 0, &testCred, nil))
	if _, _, err := replyHead(t, active.readReply()); err != nil {
		t.Fatalf("active connection after the others closed: %v", err)
	}
}

// TestStalledRecords: clients that send the start of a record and stop —
// announcing the largest record allowed, or stopping inside a later
// fragment's mark, or trickling a byte at a time — hold no in-flight slot
// and only about the memory of the bytes they sent, other clients are
// served meanwhile (with a global bound far below the number of stalled
// clients), and each is closed once its record is not complete within
// IdleTimeout of its mark.
func TestStalledRecords(t *testing.T) {
	const stallers, idleTimeout = 100, 3 * time.Second
	p := startDemoProxyWith(t, Options{IdleTimeout: idleTimeout, PerConnLimit: 2, GlobalLimit: 4})
	root := p.root()
	active := dialRaw(t, p.addr)
	getattr3(t, active, 1, root)
	before := sampleMem()

	conns := dialIdle(t, p.addr, stallers+1)
	body := make([]byte, 1000)
	for _, nc := range conns[:stallers] {
		mark := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(p.s.opts.MaxRecord))
		if _, err := nc.Write(append(mark, body...)); err != nil {
			t.Fatal(err)
		}
	}
	// A complete first fragment, then half of the next mark.
	frag := binary.BigEndian.AppendUint32(nil, 100)
	frag = append(append(frag, make([]byte, 100)...), 0, 0)
	if _, err := conns[stallers].Write(frag); err != nil {
		t.Fatal(err)
	}
	// A trickler: a mark for 1000 bytes, then one byte every 100ms.
	trickler := dialRaw(t, p.addr)
	trickled := make(chan int, 1)
	go func() {
		trickler.nc.Write(binary.BigEndian.AppendUint32(nil, 1<<31|1000))
		for i := 0; i < 200; i++ {
			time.Sleep(100 * time.Millisecond) // a slow peer: its pace is the behaviour under test
			if _, err := trickler.nc.Write([]byte{0}); err != nil {
				trickled <- i
				return
			}
		}
		trickled <- 200
	}()
	await.Until(t, "the stalled connections", func() bool { return p.s.Stats().Connections == stallers+3 })
	// Every stalled connection has its record begun (mark read, record
	// buffer taken): the stallers, the one inside a later mark, the trickler.
	await.Until(t, "the server to begin the stalled records", func() bool { return p.s.stats.receiving.Load() == stallers+2 })
	during := sampleMem()
	if got := p.s.Stats().Connections; got != stallers+3 {
		t.Fatalf("only %d connections at the memory sample; the machine is too slow for IdleTimeout %v", got, idleTimeout)
	}
	perConn := during.bytesOver(before) / (stallers + 1)
	t.Logf("%d clients each announcing a %d-byte record and sending 1000 bytes: %.1f KiB each (heap %d -> %d KiB)",
		stallers, p.s.opts.MaxRecord, float64(perConn)/1024, before.heap>>10, during.heap>>10)
	if perConn > 32<<10 {
		t.Errorf("%d bytes per stalled client; want at most 32 KiB (buffers must grow with the bytes received, not the size announced)", perConn)
	}
	if got := p.s.Stats().InFlight; got != 0 {
		t.Errorf("InFlight = %d with only stalled records; want 0 (no slot before a record is complete)", got)
	}
	// Served meanwhile, although the global bound (4) is far below the
	// number of stalled clients.
	for i := range 5 {
		if res := getattr3(t, active, uint32(10+i), root); res.Status != nfs3.StatOK {
			t.Fatalf("GETATTR %d while %d clients stall: %v", i, stallers+2, res.Status)
		}
	}
	other := dialRaw(t, p.addr)
	if res := getattr3(t, other, 20, root); res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR on a new connection while clients stall: %v", res.Status)
	}
	// The served clients leave now, before they would go idle themselves:
	// then exactly the stalled connections are closed for IdleTimeout.
	active.nc.Close()
	other.nc.Close()

	for i, nc := range conns {
		if !closedByServer(nc) {
			t.Fatalf("stalled connection %d still open", i)
		}
	}
	if got := await.Recv(t, "the trickling client to stop", trickled); got >= 200 {
		t.Errorf("the trickling client sent all %d bytes without being closed; want it closed IdleTimeout after its mark", got)
	} else {
		t.Logf("the trickling client was closed after about %d bytes (%v at one byte per 100ms; IdleTimeout %v)", got, time.Duration(got)*100*time.Millisecond, idleTimeout)
	}
	await.Until(t, "all connections to end", func() bool { return p.s.Stats().Connections == 0 })
	if got := p.s.ConnStats().IdleClosed; got != stallers+2 {
		t.Errorf("IdleClosed = %d; want %d", got, stallers+2)
	}
	if res := getattr3(t, dialRaw(t, p.addr), 30, root); res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR after: %v", res.Status)
	}
}

// TestClientThatNeverReads: a client sends 256 READs of 1 MiB and never
// reads a reply. The server runs at most PerConnLimit of them, holds about
// PerConnLimit replies in memory, keeps serving another client, and closes
// the connection WriteTimeout after its socket stops taking replies.
func TestClientThatNeverReads(t *testing.T) {
	const perConn, reads, size = 8, 256, 8 << 20
	p := startDemoProxyWith(t, Options{PerConnLimit: perConn, GlobalLimit: 64, WriteTimeout: time.Second})
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(p.dir, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	fh := p.lookup(t, "big")
	good := dialRaw(t, p.addr)
	read := func(xid uint32, off uint64) {
		t.Helper()
		good.sendRecord(callBody(xid, nfs3.Program, 3, nfs3.ProcRead, &testCred, &nfs3.ReadArgs{File: fh, Offset: off, Count: 1 << 20}))
		_, r, err := replyHead(t, good.readReply())
		var res nfs3.ReadRes
		if err != nil || res.Decode(r) != nil || res.Status != nfs3.StatOK || !bytes.Equal(res.Data, data[off:off+1<<20]) {
			t.Fatalf("READ at %d by the good client: err %v status %v, %d bytes; want the file's MiB", off, err, res.Status, len(res.Data))
		}
	}
	read(1, 0) // warm
	before := sampleMem()

	bad, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	sent := make(chan error, 1)
	go func() {
		bad.SetWriteDeadline(time.Now().Add(60 * time.Second))
		for i := range reads {
			body := callBody(uint32(1000+i), nfs3.Program, 3, nfs3.ProcRead, &testCred, &nfs3.ReadArgs{File: fh, Offset: uint64(i%8) << 20, Count: 1 << 20})
			if _, err := bad.Write(binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(body)))); err != nil {
				sent <- err
				return
			}
			if _, err := bad.Write(body); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()

	var maxInFlight int64
	var maxBytes int64
	servedWhileStuck := 0
	// Sample while waiting for the write timeout: the requests in flight,
	// the memory they hold, and whether another client is served while the
	// connection is stuck.
	await.Until(t, "a write timeout (WriteTimeout 1s)", func() bool {
		if p.s.ConnStats().WriteTimeouts > 0 {
			return true
		}
		inflight := p.s.Stats().InFlight
		maxInFlight = max(maxInFlight, inflight)
		if inflight >= perConn {
			maxBytes = max(maxBytes, sampleMem().bytesOver(before))
			if servedWhileStuck < 3 {
				// Still stuck (a reply waits for the socket): another
				// client is served.
				servedWhileStuck++
				read(uint32(10+servedWhileStuck), uint64(servedWhileStuck)<<20)
			}
		}
		return false
	})
	t.Logf("client never reading %d READs of 1 MiB: at most %d in flight, live memory at most +%.1f MiB, good client served %d times meanwhile; closed after WriteTimeout",
		reads, maxInFlight, float64(maxBytes)/(1<<20), servedWhileStuck)
	if maxInFlight > perConn {
		t.Errorf("%d requests in flight; want at most PerConnLimit %d", maxInFlight, perConn)
	}
	// Each request in flight holds its 1 MiB reply and the 1 MiB record it
	// read from the upstream, and the in-process upstream (go-nfs) holds the
	// 1 MiB it read and its encoded reply (up to 2 MiB) while the proxy
	// waits; buffers of sync.Pools survive one GC as victims. Allow 6 MiB
	// each: unbounded (GlobalLimit 64 requests) would be over 256 MiB. (4 MiB
	// each failed about 1 run in 8 on a busy 2-core machine at +37 MiB.)
	if limit := int64(perConn) * 6 << 20; maxBytes > limit {
		t.Errorf("live memory grew by %d bytes; want at most %d (PerConnLimit × 6 MiB)", maxBytes, limit)
	}
	if servedWhileStuck == 0 {
		t.Error("never observed the connection stuck with PerConnLimit requests in flight")
	}
	await.Until(t, "the connection to end", func() bool { return p.s.Stats().Connections == 1 && p.s.Stats().InFlight == 0 })
	if got := p.s.ConnStats().WriteTimeouts; got != 1 {
		t.Errorf("WriteTimeouts = %d; want 1", got)
	}
	if err := <-sent; err == nil {
		t.Log("all requests were sent before the connection was closed")
	}
	read(50, 7<<20)
	await.Until(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before.goroutines+5 })
}

// countingHandler counts log records whose message contains substr.
type countingHandler struct {
	substr string
	n      atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestMaxConns: past MaxConns, new connections are accepted and closed at
// once, counted, and logged at most once a second; once a connection ends
// a new one is served again.
func TestMaxConns(t *testing.T) {
	const maxConns, extra = 8, 50
	logs := &countingHandler{substr: "too many connections"}
	p := startDemoProxyWith(t, Options{MaxConns: maxConns, Logger: slog.New(logs)})
	var clients []*rawClient
	for i := range maxConns {
		c := dialRaw(t, p.addr)
		c.sendRecord(callBody(uint32(i), nfs3.Program, 3, 0, &testCred, nil))
		if _, _, err := replyHead(t, c.readReply()); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, maxConns, err)
		}
		clients = append(clients, c)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var stillOpen atomic.Int64
	for range extra {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !closedByServer(nc) {
				stillOpen.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := stillOpen.Load(); n > 0 {
		t.Fatalf("%d connections past MaxConns stayed open; want all closed at once", n)
	}
	cs := p.s.ConnStats()
	lines := logs.n.Load()
	t.Logf("%d connections past MaxConns %d: rejected %d, %d log lines in %v", extra, maxConns, cs.Rejected, lines, elapsed)
	if cs.Rejected != extra {
		t.Errorf("Rejected = %d; want %d", cs.Rejected, extra)
	}
	if lines < 1 || lines > int64(elapsed/time.Second)+1 {
		t.Errorf("%d log lines in %v; want at least one and at most one a second", lines, elapsed)
	}
	if got := p.s.Stats().Connections; got != maxConns {
		t.Errorf("Connections = %d; want %d", got, maxConns)
	}
	// The connections that were in keep being served.
	for i, c := range clients {
		c.sendRecord(callBody(uint32(100+i), nfs3.Program, 3, 0, &testCred, nil))
		if _, _, err := replyHead(t, c.readReply()); err != nil {
			t.Fatalf("connection %d after the rejections: %v", i, err)
		}
	}
	// One goes away: a new connection is served.
	clients[0].nc.Close()
	await.Until(t, "a free connection", func() bool { return p.s.Stats().Connections == maxConns-1 })
	c := dialRaw(t, p.addr)
	c.sendRecord(callBody(200, nfs3.Program, 3, 0, &testCred, nil))
	if _, _, err := replyHead(t, c.readReply()); err != nil {
		t.Fatalf("new connection below MaxConns: %v", err)
	}
}

func TestConnOptionsValidate(t *testing.T) {
	up := &fakeUpstream{root: nfs3.FH{1}}
	vols := []Volume{{ID: 1, Name: "/x", Upstream: up}}
	tests := []struct {
		name string
		opts Options
		want string // "" = valid
	}{
		{"defaults", Options{}, ""},
		{"max conns", Options{MaxConns: 1}, ""},
		{"negative max conns", Options{MaxConns: -1}, "MaxConns"},
		{"negative idle timeout", Options{IdleTimeout: -time.Second}, "IdleTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Volumes = vols
			tt.opts.setDefaults()
			err := tt.opts.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v; want an error naming %q (or none if empty)", err, tt.want)
			}
		})
	}
	var o Options
	o.setDefaults()
	if o.MaxConns != 4096 {
		t.Errorf("default MaxConns = %d; want 4096", o.MaxConns)
	}
}

// frame splits body into fragments of at most size bytes, record-marked.
func frame(body []byte, size int) []byte {
	var out []byte
	for i := 0; ; i += size {
		end := min(i+size, len(body))
		h := uint32(end - i)
		if end == len(body) {
			h |= 1 << 31 // last fragment
		}
		out = binary.BigEndian.AppendUint32(out, h)
		out = append(out, body[i:end]...)
		if end == len(body) {
			return out
		}
	}
}

// TestReadFragments: records of any shape are reassembled, the size limit
// holds whatever the marks say, truncation is an error, and the buffer
// grows with the bytes received.
func TestReadFragments(t *testing.T) {
	big := make([]byte, 1<<20+3)
	rand.Read(big)
	tests := []struct {
		name    string
		in      []byte
		limit   int
		want    []byte // nil: an error
		wantErr error
	}{
		{"one fragment", frame([]byte("hello"), 100), 100, []byte("hello"), nil},
		{"empty record", frame(nil, 100), 100, []byte{}, nil},
		{"many fragments", frame(big[:1000], 7), 2000, big[:1000], nil},
		{"zero-length fragments", append([]byte{0, 0, 0, 0, 0, 0, 0, 0}, frame([]byte("x"), 1)...), 10, []byte("x"), nil},
		{"large", frame(big, 300_000), len(big), big, nil},
		{"exactly the limit", frame(big[:4096], 1000), 4096, big[:4096], nil},
		{"over the limit", frame(big[:4097], 1000), 4096, nil, rpc.ErrRecordTooLarge},
		{"mark over the limit", []byte{0x80, 0, 0x10, 0}, 4095, nil, rpc.ErrRecordTooLarge},
		{"mark over the limit after fragments", append(frame(big[:10], 5)[:9], 0x80, 0xff, 0xff, 0xff), 1000, nil, rpc.ErrRecordTooLarge},
		{"truncated body", frame([]byte("hello"), 100)[:6], 100, nil, io.ErrUnexpectedEOF},
		{"truncated mark", frame([]byte("hello world"), 5)[:11], 100, nil, io.ErrUnexpectedEOF},
		{"end after a fragment", frame([]byte("hello world"), 5)[:9], 100, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := [4]byte(tt.in[:4])
			got, err := rpc.ReadFragments(bytes.NewReader(tt.in[4:]), &mark, make([]byte, 0, 16), tt.limit)
			if tt.want == nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %d bytes, %v; want %v", len(got), err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes (equal %v), %v; want %d bytes", len(got), bytes.Equal(got, tt.want), err, len(tt.want))
			}
			if c := cap(got); c > max(2*len(got), 4096) {
				t.Errorf("buffer capacity %d for a %d-byte record; want at most twice the bytes", c, len(got))
			}
		})
	}
}

// A mark announcing a large record, followed by a few bytes, allocates
// about those bytes.
func TestReadFragmentsGrowsWithData(t *testing.T) {
	mark := [4]byte(binary.BigEndian.AppendUint32(nil, 1<<31|1<<20))
	got, err := rpc.ReadFragments(bytes.NewReader(make([]byte, 10_000)), &mark, nil, 2<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v; want unexpected EOF", err)
	}
	if cap(got) > 32<<10 {
		t.Fatalf("buffer of %d bytes after receiving 10000 of an announced 1 MiB; want at most 32 KiB", cap(got))
	}
}

// FuzzReadFragments checks readFragments against rpc.ReadRecord: the same
// record, or both an error (the same one for an oversized record).
func FuzzReadFragments(f *testing.F) {
	f.Add(frame([]byte("hello"), 100), 100)
	f.Add(frame(make([]byte, 300), 7), 1000)
	f.Add(frame(make([]byte, 300), 7), 299)
	f.Add([]byte{0, 0, 0, 0, 0x80, 0, 0, 1, 9}, 10)
	f.Add([]byte{0x80, 0xff, 0xff, 0xff, 1, 2}, 1<<20)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		if len(in) < 4 || limit < 0 || limit > 1<<20 {
			return
		}
		want, werr := rpc.ReadRecord(bytes.NewReader(in), nil, limit)
		mark := [4]byte(in[:4])
		got, gerr := rpc.ReadFragments(bytes.NewReader(in[4:]), &mark, nil, limit)
		switch {
		case werr == nil && gerr == nil:
			if !bytes.Equal(got, want) {
				t.Fatalf("record differs: got %d bytes, want %d", len(got), len(want))
			}
		case werr == nil || gerr == nil:
			t.Fatalf("got err %v; rpc.ReadRecord says %v", gerr, werr)
		case errors.Is(werr, rpc.ErrRecordTooLarge) != errors.Is(gerr, rpc.ErrRecordTooLarge):
			t.Fatalf("got err %v; rpc.ReadRecord says %v", gerr, werr)
		}
	})
}

// benchConn serves a proxy over a fake upstream that answers at once and
// returns a connection to it.
func benchConn(b *testing.B) net.Conn {
	b.Helper()
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
		if proc == nfs3.ProcWrite {
			a := args.(*nfs3.WriteArgs)
			*res.(*nfs3.WriteRes) = nfs3.WriteRes{Status: nfs3.StatOK, Count: a.Count, Committed: a.Stable}
		}
		return nil
	}}
	s, err := New(Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	b.Cleanup(func() { s.Close() })
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return nc
}

// roundTrips writes msg (n record-marked calls) and reads n replies.
func roundTrips(b *testing.B, nc net.Conn, br io.Reader, msg []byte, n int) {
	if _, err := nc.Write(msg); err != nil {
		b.Fatal(err)
	}
	for range n {
		if _, err := rpc.ReadRecord(br, nil, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnPipelinedNull: 16 NULL calls written at once, then their
// replies read: the cost of framing small records on a busy connection.
func BenchmarkConnPipelinedNull(b *testing.B) {
	const batch = 16
	nc := benchConn(b)
	var msg []byte
	for i := range batch {
		msg = append(msg, frame(callBody(uint32(i), nfs3.Program, 3, 0, &testCred, nil), 1<<20)...)
	}
	br := bufio.NewReader(nc)
	b.ReportAllocs()
	for b.Loop() {
		roundTrips(b, nc, br, msg, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/call")
}

// BenchmarkConnWrite1MiB: one WRITE of 1 MiB at a time: the cost of
// reading a large record.
func BenchmarkConnWrite1MiB(b *testing.B) {
	nc := benchConn(b)
	fh := appendHandle(nil, 1, nfs3.FH{1, 2, 3, 4})
	data := make([]byte, 1<<20)
	msg := frame(callBody(1, nfs3.Program, 3, nfs3.ProcWrite, &testCred, &nfs3.WriteArgs{File: fh, Count: 1 << 20, Stable: nfs3.Unstable, Data: data}), 1<<30)
	br := bufio.NewReader(nc)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		roundTrips(b, nc, br, msg, 1)
	}
}
