package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// The hostile-client suite (issue 18): each test runs `nfscacheproxy serve`
// as its own process in front of nfs-ganesha and attacks it from outside
// with raw ONC RPC (internal/rpc encoders, hand-built records), as a
// hostile client would. Names sent are plain names inside the test's own
// export; the name checks themselves are names_test.go.

// rawCall returns one record-marked call with an arbitrary credential
// written by auth (flavor, body, verifier).
func rawCall(xid, prog, vers, proc uint32, auth func(w *xdr.Writer), args xdr.Encoder) []byte {
	w := xdr.NewWriter(nil)
	w.Uint32(0)
	w.Uint32(xid)
	w.Uint32(rpc.Call)
	w.Uint32(rpc.RPCVersion)
	w.Uint32(prog)
	w.Uint32(vers)
	w.Uint32(proc)
	auth(w)
	if args != nil {
		args.Encode(w)
	}
	rpc.SetRecordHeader(w.Buf)
	return w.Buf
}

// readReplyOrClose reads one reply record from nc. It returns the record,
// or nil when the server closed the connection; a read that times out —
// the server neither answers nor closes — fails the test.
func readReplyOrClose(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(await.Deadline))
	rec, err := rpc.ReadRecord(nc, nil, 8<<20)
	switch {
	case err == nil:
		return rec
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("no reply and no close within %v: the client hangs", await.Deadline)
	}
	return nil
}

// serveOver starts serve with the given volumes (YAML entries) and a
// metrics listener; extra is more top-level YAML.
func serveOver(t *testing.T, volumes, extra string) (*serveProc, string) {
	t.Helper()
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"127.0.0.1:%d\"}\nupstream: {unprivileged_port: true}\n%svolumes:\n%s", port, mport, extra, volumes))
	return startServe(t, port, "--config", cfg), fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
}

// metricValue scrapes one sample.
func metricValue(t *testing.T, url, name string, labels ...string) float64 {
	t.Helper()
	_, body := scrape(t, url)
	return sample(body, name, labels...)
}

// TestHostileCredentialsAnsweredOrClosed: credentials whose length field
// says 0x7fffffff, 401 or 100,000 bytes (with and without the bytes), and
// AUTH_SYS with 5,000 gids, get AUTH_ERROR (AUTH_BADCRED) — never silence
// on an open connection — and the connection still serves afterwards.
func TestHostileCredentialsAnsweredOrClosed(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	p, _ := serveOver(t, volumeYAML(91, "/vol", g, "clients: [127.0.0.0/8]"), "")
	opaque := func(n int, sendBytes int) func(w *xdr.Writer) {
		return func(w *xdr.Writer) {
			w.Uint32(rpc.AuthSys)
			w.Uint32(uint32(n))
			w.Fixed(make([]byte, sendBytes))
		}
	}
	manyGids := func(w *xdr.Writer) {
		body := xdr.NewWriter(nil)
		body.Uint32(0)
		body.String("hostile")
		body.Uint32(1000)
		body.Uint32(1000)
		body.Uint32(5000)
		for i := range 5000 {
			body.Uint32(uint32(i))
		}
		w.Uint32(rpc.AuthSys)
		w.Opaque(body.Bytes())
		w.Uint32(rpc.AuthNone)
		w.Uint32(0)
	}
	tests := []struct {
		name string
		auth func(w *xdr.Writer)
	}{
		{"length 0x7fffffff, 8 bytes sent", opaque(0x7fffffff, 8)},
		{"length 401, 404 bytes sent", opaque(401, 404)},
		{"length 401, 8 bytes sent", opaque(401, 8)},
		{"length 100000, 100000 bytes sent", opaque(100000, 100000)},
		{"length 100000, 8 bytes sent", opaque(100000, 8)},
		{"AUTH_SYS with 5000 gids", manyGids},
	}
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	good := func(w *xdr.Writer) {
		rpc.EncodeCred(w, &rpc.Cred{Flavor: rpc.AuthSys, Machine: "hostile"})
		w.Uint32(rpc.AuthNone)
		w.Uint32(0)
	}
	for i, tt := range tests {
		xid := uint32(700 + i)
		if _, err := nc.Write(rawCall(xid, nfs3.Program, 3, nfs3.ProcNull, tt.auth, nil)); err != nil {
			t.Fatalf("%s: write: %v", tt.name, err)
		}
		rec := readReplyOrClose(t, nc)
		if rec == nil {
			t.Fatalf("%s: connection closed; want AUTH_ERROR (the README promises a reply)", tt.name)
		}
		got, err := rpc.DecodeReply(xdr.NewReader(rec))
		var re *rpc.ReplyError
		if got != xid || !errors.As(err, &re) || !re.Denied || re.AuthStat != rpc.AuthBadCred {
			t.Fatalf("%s: reply xid %d, %v; want xid %d denied with AUTH_BADCRED", tt.name, got, err, xid)
		}
		// The same connection still serves a well-formed call.
		if _, err := nc.Write(rawCall(xid+100, nfs3.Program, 3, nfs3.ProcNull, good, nil)); err != nil {
			t.Fatal(err)
		}
		rec = readReplyOrClose(t, nc)
		if rec == nil {
			t.Fatalf("%s: closed after the rejected call", tt.name)
		}
		if _, err := rpc.DecodeReply(xdr.NewReader(rec)); err != nil {
			t.Fatalf("%s: NULL after the rejected call: %v", tt.name, err)
		}
	}
}

// TestOneSourceCannotLockOutOthers: one address opening far more idle
// connections than max_conns_per_client keeps only that many; the rest are
// closed at once and another address mounts and is served.
func TestOneSourceCannotLockOutOthers(t *testing.T) {
	const perClient, maxConns, attack = 16, 64, 80
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	p, metricsURL := serveOver(t, volumeYAML(92, "/vol", g, "clients: [127.0.0.0/8]"),
		fmt.Sprintf("limits: {max_conns: %d, max_conns_per_client: %d}\n", maxConns, perClient))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range attack {
		nc, err := d.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	await.Until(t, "the connections beyond max_conns_per_client to be closed", func() bool {
		return metricValue(t, metricsURL, "nfscacheproxy_connections_rejected_per_client_total") >= attack-perClient
	})
	if n := metricValue(t, metricsURL, "nfscacheproxy_connections"); n > perClient {
		t.Fatalf("%v connections open from one address; want at most %d", n, perClient)
	}
	c := dialVolume(t, p.addr, "/vol", 0, 0)
	if _, st := c.getattr(c.root()); st != nfs3.StatOK {
		t.Fatalf("GETATTR from another address: %v", st)
	}
}

// relay forwards TCP connections from its listener to target. Each record
// the proxy sends goes through inspect, which may drop it (hang: the
// upstream never sees it) or kill the connection.
type relay struct {
	l      net.Listener
	target string
	// hang, while set, swallows every record: a connected upstream that
	// never answers.
	hang atomic.Bool
	// kill, when it returns true for a record, closes both sides instead
	// of forwarding it.
	kill func(rec []byte) bool
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startRelay(t *testing.T, target string, kill func(rec []byte) bool) *relay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{l: l, target: target, kill: kill}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) port() int { return r.l.Addr().(*net.TCPAddr).Port }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		down, err := r.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			down.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, down, up)
		r.mu.Unlock()
		r.wg.Add(2)
		go func() { // replies, byte for byte
			defer r.wg.Done()
			io.Copy(down, up)
			down.Close()
		}()
		go func() { // calls, record by record
			defer r.wg.Done()
			defer up.Close()
			defer down.Close()
			for {
				rec, err := rpc.ReadRecord(down, nil, 4<<20)
				if err != nil {
					return
				}
				if r.hang.Load() {
					continue
				}
				if r.kill != nil && r.kill(rec) {
					return
				}
				out := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(rec)))
				if _, err := up.Write(append(out, rec...)); err != nil {
					return
				}
			}
		}()
	}
}

// TestRequestThatKillsUpstreamIsNotResent: a LOOKUP whose every sending
// breaks the upstream connection (as "../up1" aborted ganesha 4.3) is sent
// twice — the first loss may be chance — and then answered NFS3ERR_IO,
// counted and logged once, never a third time; other calls go on.
func TestRequestThatKillsUpstreamIsNotResent(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	const killer = "killer-name"
	var killed atomic.Int64
	r := startRelay(t, g.NFSAddr(), func(rec []byte) bool {
		var h rpc.CallHeader
		if rpc.DecodeCall(xdr.NewReader(rec), &h) != nil || h.Proc != nfs3.ProcLookup || !bytes.Contains(rec, []byte(killer)) {
			return false
		}
		killed.Add(1)
		return true
	})
	vol := fmt.Sprintf("  - id: 93\n    name: /vol\n    upstream: %s:%s\n    nfs_port: %d\n    mount_port: %d\n    clients: [127.0.0.0/8]\n",
		g.Host, g.Export, r.port(), g.MountPort)
	p, metricsURL := serveOver(t, vol, "")
	c := dialVolume(t, p.addr, "/vol", 0, 0)
	if _, st := c.lookup(c.root(), killer); st != nfs3.StatIO {
		t.Fatalf("LOOKUP of the killing name: %v; want NFS3ERR_IO", st)
	}
	if n := killed.Load(); n != 2 {
		t.Fatalf("the killing LOOKUP reached the upstream %d times; want 2", n)
	}
	if n := metricValue(t, metricsURL, "nfscacheproxy_upstream_abandoned_calls_total", `volume="93"`); n != 1 {
		t.Fatalf("upstream_abandoned_calls_total = %v; want 1", n)
	}
	if _, st := c.getattr(c.root()); st != nfs3.StatOK {
		t.Fatalf("GETATTR after the abandoned call: %v", st)
	}
	if n := killed.Load(); n != 2 {
		t.Fatalf("the killing LOOKUP was sent again later (%d times in all)", n)
	}
	const line = "upstream connection died twice with this call in flight"
	await.Until(t, "the abandoned call's log line", func() bool { return strings.Contains(p.log.String(), line) })
	if log := p.log.String(); strings.Count(log, line) != 1 || !strings.Contains(log, "proc=LOOKUP") {
		t.Fatalf("want one %q line naming LOOKUP:\n%s", line, log)
	}
}

// TestHungUpstreamDoesNotStarveOtherVolumes: connections pipelining
// GETATTRs to a volume whose upstream accepts them and never answers hold
// at most that volume's share of the request slots; the others get
// NFS3ERR_JUKEBOX at once, a client of a healthy volume is served, the
// hang is detected and exported, and once the attackers have gone their
// calls are abandoned and every slot comes back.
func TestHungUpstreamDoesNotStarveOtherVolumes(t *testing.T) {
	const requests, connReqs, attackers = 64, 16, 8
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	r := startRelay(t, g.NFSAddr(), nil)
	hungVol := fmt.Sprintf("  - id: 94\n    name: /hung\n    upstream: %s:%s\n    nfs_port: %d\n    mount_port: %d\n    clients: [127.0.0.0/8]\n    coherency: {mode: cto}\n",
		g.Host, g.Export, r.port(), g.MountPort)
	p, metricsURL := serveOver(t, hungVol+volumeYAML(95, "/ok", g, "clients: [127.0.0.0/8]", "coherency: {mode: cto}"),
		fmt.Sprintf("limits: {requests: %d, conn_requests: %d}\n", requests, connReqs))
	hc := dialVolume(t, p.addr, "/hung", 0, 0)
	hungRoot := hc.root()
	if _, st := hc.getattr(hungRoot); st != nfs3.StatOK {
		t.Fatalf("GETATTR on /hung before the hang: %v", st)
	}
	r.hang.Store(true)

	var conns []net.Conn
	var feed *replyFeed
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
		if feed != nil {
			feed.wg.Wait()
		}
	}()
	xid := uint32(0)
	for range attackers {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		var batch []byte
		for range connReqs {
			xid++
			batch = append(batch, recordMarked(xid, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: hungRoot})...)
		}
		if _, err := nc.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	feed = feedReplies(conns, attackers*connReqs)
	// Beyond the hung volume's share (three quarters of the slots), the
	// requests are answered at once with JUKEBOX.
	share := requests * 3 / 4
	await.Until(t, "the requests beyond the hung volume's share to be answered", func() bool {
		return metricValue(t, metricsURL, "nfscacheproxy_volume_busy_total") >= attackers*connReqs-float64(share)
	})
	// Each of those replies is JUKEBOX.
	for range attackers*connReqs - share {
		rec := feed.next(t)
		r := xdr.NewReader(rec)
		if _, err := rpc.DecodeReply(r); err != nil {
			t.Fatalf("reply to a GETATTR on /hung: %v", err)
		}
		var res nfs3.GetattrRes
		if res.Decode(r) != nil || res.Status != nfs3.StatJukebox {
			t.Fatalf("GETATTR on /hung answered %v; want NFS3ERR_JUKEBOX", res.Status)
		}
	}
	// The honest client of the other volume is served now.
	ok := dialVolume(t, p.addr, "/ok", 0, 0)
	if _, st := ok.getattr(ok.root()); st != nfs3.StatOK {
		t.Fatalf("GETATTR on the healthy volume during the hang: %v", st)
	}
	busy := metricValue(t, metricsURL, "nfscacheproxy_volume_busy_total")
	t.Logf("%v GETATTRs to the hung volume answered JUKEBOX at once; its share is %d of %d slots", busy, share, requests)
	// The watchdog finds the hang (calls outstanding, no reply, a NULL
	// unanswered) and exports it.
	await.Until(t, "upstream_up{volume=94} to drop to 0", func() bool {
		return metricValue(t, metricsURL, "nfscacheproxy_upstream_up", `volume="94"`) == 0
	})
	if n := metricValue(t, metricsURL, "nfscacheproxy_upstream_up", `volume="95"`); n != 1 {
		t.Fatalf("upstream_up{volume=95} = %v; want 1", n)
	}
	// The attackers leave: their GETATTRs, idempotent, are abandoned
	// upstream and every slot comes back.
	for _, nc := range conns {
		nc.Close()
	}
	await.Until(t, "requests_in_flight to drop to 0 once the attackers are gone", func() bool {
		return metricValue(t, metricsURL, "nfscacheproxy_requests_in_flight") == 0 &&
			metricValue(t, metricsURL, "nfscacheproxy_upstream_in_flight", `volume="94"`) == 0
	})
}

// replyFeed reads reply records from several connections into one
// channel, one goroutine per connection, until each connection ends.
type replyFeed struct {
	ch chan []byte
	wg sync.WaitGroup
}

// feedReplies starts reading conns; closing them stops the readers, which
// wait returns after.
func feedReplies(conns []net.Conn, capacity int) *replyFeed {
	f := &replyFeed{ch: make(chan []byte, capacity)}
	for _, nc := range conns {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				rec, err := rpc.ReadRecord(nc, nil, 1<<20)
				if err != nil {
					return
				}
				select {
				case f.ch <- rec:
				default: // more replies than expected: the test fails on its count
				}
			}
		}()
	}
	return f
}

// next returns the next reply, failing the test when none comes within
// await.Deadline.
func (f *replyFeed) next(t *testing.T) []byte {
	t.Helper()
	select {
	case rec := <-f.ch:
		return rec
	case <-time.After(await.Deadline):
		t.Fatalf("no reply within %v", await.Deadline)
		return nil
	}
}

// TestUnadmittedAddressClosedAtAccept: a connection from an address no
// volume's clients admit is closed at once, before it can send anything
// that costs memory, and counted; an admitted address is served.
func TestUnadmittedAddressClosedAtAccept(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	p, metricsURL := serveOver(t, volumeYAML(96, "/vol", g, "clients: [127.0.0.1/32]"), "")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	for i := range 3 {
		nc, err := d.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		closed := serverClosed(nc)
		nc.Close()
		if !closed {
			t.Fatalf("connection %d from 127.0.0.3 stayed open; want it closed at accept", i)
		}
	}
	if n := metricValue(t, metricsURL, "nfscacheproxy_connections_not_admitted_total"); n != 3 {
		t.Fatalf("connections_not_admitted_total = %v; want 3", n)
	}
	c := dialVolume(t, p.addr, "/vol", 0, 0)
	if _, st := c.getattr(c.root()); st != nfs3.StatOK {
		t.Fatalf("GETATTR from 127.0.0.1: %v", st)
	}
}
