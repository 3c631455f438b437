package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// liveBytes returns the heap and stacks in use after a GC.
func liveBytes() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// recordMarked returns an RPC call record-marked, ready to write.
func recordMarked(xid, proc uint32, args xdr.Encoder) []byte {
	w := xdr.NewWriter(nil)
	w.Uint32(0)
	rpc.EncodeCall(w, xid, nfs3.Program, 3, proc, &rpc.Cred{Flavor: rpc.AuthSys, Machine: "abuse"})
	if args != nil {
		args.Encode(w)
	}
	rpc.SetRecordHeader(w.Buf)
	return w.Buf
}

// serverClosed reports whether the server has closed nc (EOF or reset on
// read within await.Deadline, after draining what it wrote).
func serverClosed(nc net.Conn) bool {
	nc.SetReadDeadline(time.Now().Add(await.Deadline))
	buf := make([]byte, 256<<10)
	for {
		if _, err := nc.Read(buf); err != nil {
			return !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

// TestConnectionAbuseAgainstGanesha (issue 7): in front of nfs-ganesha, with
// a data cache, the proxy faces at once clients that never read their
// replies to 1 MiB READs, clients that stall halfway through a record, and
// more idle connections than MaxConns. A well-behaved client keeps reading
// and writing correct data throughout; the connection cap holds; every
// abuser is closed (write timeout, idle timeout, or at once past the cap);
// and goroutines and memory come back to where they started.
func TestConnectionAbuseAgainstGanesha(t *testing.T) {
	const (
		maxConns   = 400
		perConn    = 16
		nonReaders = 2
		stallers   = 50
		// The idle timeout must outlast the set-up on a busy machine: the
		// good client idles while 400 connections are dialled, and were
		// it closed then, its reconnection would meet the cap.
		idleTimeout  = 20 * time.Second
		writeTimeout = 2 * time.Second
	)
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	big := randomFile(t, filepath.Join(g.Dir, "big"), 16<<20)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	up, err := upstream.Dial(ctx, upstream.Options{Server: g.Host, Export: g.Export, NFSPort: g.NFSPort, MountPort: g.MountPort})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	store, err := cache.Open(cache.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, err := proxy.New(proxy.Options{
		Volumes: []proxy.Volume{{ID: testVolume, Name: "/export", Upstream: up,
			Data: proxy.StoreVolume(store, cache.VolumeKey{Server: g.Host, Export: g.Export, ID: testVolume})}},
		MaxConns: maxConns, MaxConnsPerClient: maxConns, PerConnLimit: perConn, GlobalLimit: 256,
		IdleTimeout: idleTimeout, WriteTimeout: writeTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(l) }()
	defer func() { srv.Close(); <-served }()
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port

	// The well-behaved client: connected first, it reads and writes
	// throughout and checks every byte.
	good := dialClient(t, "127.0.0.1", port, port, 0, 0)
	bigFH := good.mustLookup(good.root(), "big")
	own, st := good.create(good.root(), "own", 0o644)
	if st != nfs3.StatOK {
		t.Fatalf("create own: %v", st)
	}
	var ownData []byte
	goodRound := func(round int) {
		t.Helper()
		off := (round % 16) << 20
		if res := good.read(bigFH, uint64(off), 1<<20); res.Status != nfs3.StatOK || !bytes.Equal(res.Data, big[off:off+1<<20]) {
			t.Fatalf("good client round %d: READ at %d: %v, %d bytes, equal %v", round, off, res.Status, len(res.Data), bytes.Equal(res.Data, big[off:min(off+len(res.Data), len(big))]))
		}
		chunk := bytes.Repeat([]byte{byte(round), byte(round >> 8), 0x5a}, 21_845)
		if w := good.write(own, uint64(len(ownData)), chunk, nfs3.FileSync); w.Status != nfs3.StatOK || int(w.Count) != len(chunk) {
			t.Fatalf("good client round %d: WRITE: %v count %d", round, w.Status, w.Count)
		}
		ownData = append(ownData, chunk...)
		if got := good.readAll(own); !bytes.Equal(got, ownData) {
			t.Fatalf("good client round %d: read back %d bytes of own file, want %d (equal %v)", round, len(got), len(ownData), bytes.Equal(got, ownData))
		}
	}
	goodRound(0)
	baseline := liveBytes()
	baseGoroutines := runtime.NumGoroutine()

	// Clients that never read: each sends 200 READs of 1 MiB.
	var abusers []net.Conn
	defer func() {
		for _, nc := range abusers {
			nc.Close()
		}
	}()
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		abusers = append(abusers, nc)
		return nc
	}
	var sendWG sync.WaitGroup
	for i := range nonReaders {
		nc := dial()
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			nc.SetWriteDeadline(time.Now().Add(time.Minute))
			for k := range 200 {
				off := uint64((k+i)%16) << 20
				if _, err := nc.Write(recordMarked(uint32(k), nfs3.ProcRead, &nfs3.ReadArgs{File: bigFH, Offset: off, Count: 1 << 20})); err != nil {
					return
				}
			}
		}()
	}
	// Clients that announce the largest record and send 100 bytes of it.
	mark := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(1<<20+64<<10))
	for range stallers {
		if _, err := dial().Write(append(mark, make([]byte, 100)...)); err != nil {
			t.Fatal(err)
		}
	}
	goodRound(1)

	// Idle connections up to the cap and 50 beyond it.
	// After each dial, wait until the server counts it (or closes
	// another connection meanwhile, which may hide the count going up).
	closedSoFar := func() int64 { cs := srv.ConnStats(); return cs.Rejected + cs.IdleClosed + cs.WriteTimeouts }
	for n := srv.Stats().Connections; n < maxConns; n = srv.Stats().Connections {
		closed := closedSoFar()
		dial()
		await.Until(t, "the server to count a new idle connection", func() bool {
			return srv.Stats().Connections > n || closedSoFar() > closed
		})
	}
	open := srv.Stats().Connections
	var rejected []net.Conn
	for range 50 {
		rejected = append(rejected, dial())
	}
	for i, nc := range rejected {
		if !serverClosed(nc) {
			t.Fatalf("connection %d past MaxConns %d stayed open", i, maxConns)
		}
	}
	peakMem := liveBytes() - baseline
	peakGoroutines := runtime.NumGoroutine() - baseGoroutines
	cs := srv.ConnStats()
	if cs.Rejected < 50 {
		t.Errorf("Rejected = %d after 50 connections past the cap; want at least 50", cs.Rejected)
	}
	if n := srv.Stats().Connections; n > maxConns {
		t.Errorf("Connections = %d; want at most MaxConns %d", n, maxConns)
	}
	// The good client, connected before the cap was reached, is served.
	goodRound(2)
	goodRound(3)
	t.Logf("at the cap: %d connections open (MaxConns %d), %d rejected; live memory +%.1f MiB, goroutines +%d, requests in flight %d",
		open, maxConns, cs.Rejected, float64(peakMem)/(1<<20), peakGoroutines, srv.Stats().InFlight)
	// Memory: the non-readers' replies (PerConnLimit × (1 MiB reply + 1 MiB
	// from the upstream), with slack) plus a few tens of KiB per connection.
	if limit := int64(nonReaders*perConn*4<<20 + maxConns*32<<10); peakMem > limit {
		t.Errorf("live memory grew by %d bytes; want at most %d", peakMem, limit)
	}
	if peakGoroutines > maxConns+nonReaders*perConn+64 {
		t.Errorf("goroutines grew by %d; want about one per connection plus one per request in flight", peakGoroutines)
	}

	// Every abuser is closed: by the write timeout, the idle timeout
	// (stalled records included) or the cap. The non-readers first: reading
	// their connections below would unblock them.
	await.Until(t, "a write timeout on each non-reader", func() bool { return srv.ConnStats().WriteTimeouts >= nonReaders })
	for i, nc := range abusers {
		if !serverClosed(nc) {
			t.Fatalf("abusive connection %d still open", i)
		}
	}
	sendWG.Wait()
	cs = srv.ConnStats()
	t.Logf("closed: %d by the write timeout, %d idle or stalled, %d rejected", cs.WriteTimeouts, cs.IdleClosed, cs.Rejected)
	if cs.WriteTimeouts != nonReaders {
		t.Errorf("WriteTimeouts = %d; want %d", cs.WriteTimeouts, nonReaders)
	}
	// All but the non-readers and the good client end idle or stalled.
	if want := open - nonReaders - 1; cs.IdleClosed < want {
		t.Errorf("IdleClosed = %d; want at least %d", cs.IdleClosed, want)
	}
	goodRound(4)

	// Everything is released.
	if !await.Poll(await.Deadline, func() bool {
		return srv.Stats().InFlight == 0 && srv.Stats().Connections <= 1 && runtime.NumGoroutine() <= baseGoroutines+10
	}) {
		t.Fatalf("after the abuse: %d in flight, %d connections, goroutines %d; want 0, at most 1, at most %d",
			srv.Stats().InFlight, srv.Stats().Connections, runtime.NumGoroutine(), baseGoroutines+10)
	}
	after := liveBytes() - baseline
	t.Logf("after: live memory %+.1f MiB from the baseline, goroutines %d (baseline %d)", float64(after)/(1<<20), runtime.NumGoroutine(), baseGoroutines)

	// A real client (libnfs) reads the file through the proxy.
	out, _, err := harness.RunLibNFS(t.Context(), "nfs-cat", harness.LibNFSURL("127.0.0.1", port, port, "/export", "big"))
	if err != nil || !bytes.Equal(out, big) {
		t.Fatalf("nfs-cat big through the proxy: %v, %d bytes, equal %v", err, len(out), bytes.Equal(out, big))
	}
	if got, err := os.ReadFile(filepath.Join(g.Dir, "own")); err != nil || !bytes.Equal(got, ownData) {
		t.Fatalf("own file on the upstream: %v, %d bytes, want %d", err, len(got), len(ownData))
	}
}

// vmRSS reads the resident set size of process pid from /proc, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestHalfRecordsStayWithinBudget (issue 18): connections that announce a
// 1 MiB request and send half of it hold memory before any
// authentication. The serve process keeps what they hold within
// limits.partial_record_bytes, by its gauge and by its resident size, closes
// the ones beyond it, and still serves an honest client.
func TestHalfRecordsStayWithinBudget(t *testing.T) {
	const (
		budget   = 8 << 20
		stallers = 64
		announce = 1 << 20
		sent     = announce / 2
	)
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"127.0.0.1:%d\"}\nupstream: {unprivileged_port: true}\n", port, mport)+
		fmt.Sprintf("limits: {partial_record_bytes: %d}\nvolumes:\n", budget)+
		volumeYAML(61, "/vol", g, "clients: [127.0.0.0/8]"))
	// RSS measures what the budget bounds only if the serve process does
	// not also keep garbage: with the default GOGC=100 its heap may grow to
	// twice the live bytes before a collection, so freed buffers of the
	// closed stallers counted against the budget (+52 MiB once on a busy
	// machine with 8 MiB held). GOGC=10 keeps garbage near a tenth of live.
	t.Setenv("GOGC", "10")
	p := startServe(t, port, "--config", cfg)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	metrics := func() (held, dropped float64) {
		_, body := scrape(t, metricsURL)
		return sample(body, "nfscacheproxy_partial_record_bytes"),
			sample(body, "nfscacheproxy_rejected_requests_total", `reason="partial_record_budget"`)
	}
	pid := p.cmd.Process.Pid
	baseRSS := vmRSS(t, pid)

	mark := binary.BigEndian.AppendUint32(nil, 1<<31|announce)
	half := append(mark, make([]byte, sent)...)
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range stallers {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		nc.SetWriteDeadline(time.Now().Add(await.Deadline))
		// A write to a connection the budget has closed may fail: that
		// is the point.
		nc.Write(half)
	}
	// Every staller still open holds all it sent; the others were closed.
	var held, dropped float64
	await.Until(t, "each staller to be held in full or closed", func() bool {
		held, dropped = metrics()
		return held >= sent*(stallers-dropped)
	})
	rss := vmRSS(t, pid)
	t.Logf("%d stallers of %d KiB: %v bytes held, %v closed by the budget; RSS %.1f → %.1f MiB",
		stallers, sent>>10, held, dropped, float64(baseRSS)/(1<<20), float64(rss)/(1<<20))
	if held > budget {
		t.Fatalf("partial_record_bytes = %v; want at most the budget %d", held, budget)
	}
	if dropped < stallers-budget/sent {
		t.Fatalf("%v connections closed by the budget; want at least %d", dropped, stallers-budget/sent)
	}
	// Without the budget the stallers would hold 64 MiB (and the garbage
	// of their buffers' growth as much again); with it, the budget plus
	// the garbage of growing to it, plus slack for the runtime.
	if limit := int64(3*budget + 16<<20); rss-baseRSS > limit {
		t.Fatalf("RSS grew by %.1f MiB under stalled half-records; want at most %.1f MiB", float64(rss-baseRSS)/(1<<20), float64(limit)/(1<<20))
	}

	// An honest client is served meanwhile.
	c := dialVolume(t, p.addr, "/vol", 0, 0)
	if _, st := c.getattr(c.root()); st != nfs3.StatOK {
		t.Fatalf("honest GETATTR: %v", st)
	}
	if held, _ := metrics(); held > budget {
		t.Fatalf("partial_record_bytes = %v after the honest client; want at most %d", held, budget)
	}
}
