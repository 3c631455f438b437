package proxy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestPartialBudgetPicksLargest drives the budget's decisions step by step:
// growth within the budget is granted; beyond it the largest other holder
// is dropped first, a requester that holds more than every other is
// dropped itself, and a dropped connection gives back its bytes and is
// refused further growth.
func TestPartialBudgetPicksLargest(t *testing.T) {
	b := newPartialBudget(100)
	a, bb, c := &conn{}, &conn{}, &conn{}
	step := func(name string, who *conn, delta int64, wantOK bool, wantVictims []*conn, wantTotal int64) {
		t.Helper()
		victims, ok := b.grow(who, delta)
		if ok != wantOK || len(victims) != len(wantVictims) {
			t.Fatalf("%s: got ok %v, %d victims; want %v, %d", name, ok, len(victims), wantOK, len(wantVictims))
		}
		for i := range victims {
			if victims[i] != wantVictims[i] {
				t.Fatalf("%s: victim %d is not the one expected", name, i)
			}
		}
		if got := b.total.Load(); got != wantTotal {
			t.Fatalf("%s: total %d; want %d", name, got, wantTotal)
		}
	}
	step("a takes 40", a, 40, true, nil, 40)
	step("b takes 30", bb, 30, true, nil, 70)
	step("c takes 30: exactly the budget", c, 30, true, nil, 100)
	// c (30) grows by 10: a (40) holds the most and is dropped.
	step("c grows past the budget", c, 10, true, []*conn{a}, 70)
	if !a.partialDropped || a.partial != 0 {
		t.Fatalf("a: dropped %v, partial %d; want dropped with nothing held", a.partialDropped, a.partial)
	}
	step("a, dropped, may not grow again", a, 1, false, nil, 70)
	b.release(a) // its reader ends: nothing to give back
	step("b grows to 60", bb, 30, true, nil, 100)
	// c (40) asks for more; b (60) holds the most: b goes.
	step("c grows again", c, 20, true, []*conn{bb}, 60)
	// A newcomer (0) asks for 50: c (60) is dropped, though it asked first.
	d := &conn{}
	step("d starts a record", d, 50, true, []*conn{c}, 50)
	// d, now the largest and alone, asks beyond the budget: d is dropped.
	step("d alone beyond the budget", d, 60, false, nil, 0)
	e := &conn{}
	step("e", e, 10, true, nil, 10)
	b.release(e)
	if got := b.total.Load(); got != 0 || len(b.held) != 0 {
		t.Fatalf("after release: total %d, %d held; want 0, 0", got, len(b.held))
	}
}

// TestPartialRecordBudgetClosesStalledConnections: connections that send
// part of a record and stall are charged to the budget; once it is full,
// the ones holding the most are closed, the total never exceeds the
// budget, and an honest client is still served.
func TestPartialRecordBudgetClosesStalledConnections(t *testing.T) {
	const (
		budget   = 256 << 10
		stallers = 10
		announce = 60000
		sent     = 40000
	)
	up := &memUpstream{root: nfs3.FH{1, 1, 1, 1}, attr: nfs3.Fattr3{Type: nfs3.TypeDir, Mode: 0o755, Nlink: 2, FileID: 1}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/export", Upstream: up}},
		MaxIO: 4096, MaxRecord: 64 << 10, PartialRecordBytes: budget})

	// serverConn returns the server's connection from local, once the
	// server has accepted it.
	serverConn := func(local netip.AddrPort) *conn {
		var sc *conn
		await.Until(t, "the server to accept the connection", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			for c := range s.conns {
				if c.remote == local {
					sc = c
				}
			}
			return sc != nil
		})
		return sc
	}
	state := func(sc *conn) (held int64, dropped bool) {
		s.partial.mu.Lock()
		defer s.partial.mu.Unlock()
		return sc.partial, sc.partialDropped
	}
	mark := binary.BigEndian.AppendUint32(nil, 1<<31|announce)
	var scs []*conn
	for i := range stallers {
		rc := dialRaw(t, addr)
		local := rc.nc.LocalAddr().(*net.TCPAddr).AddrPort()
		sc := serverConn(netip.AddrPortFrom(local.Addr().Unmap(), local.Port()))
		if _, err := rc.nc.Write(append(mark, make([]byte, sent)...)); err != nil {
			t.Fatal(err)
		}
		// All its bytes are in a buffer, or the budget closed it.
		await.Until(t, "the server to hold staller's bytes or drop it", func() bool {
			held, dropped := state(sc)
			return dropped || held >= sent
		})
		if got := s.Stats().PartialRecordBytes; got > budget {
			t.Fatalf("after staller %d: PartialRecordBytes %d; want at most %d", i, got, budget)
		}
		scs = append(scs, sc)
	}
	var alive int
	for _, sc := range scs {
		if _, dropped := state(sc); !dropped {
			alive++
		}
	}
	dropped := s.Rejections().ByReason["partial_record_budget"]
	t.Logf("%d stallers held, %d closed by the budget, %d bytes held", alive, dropped, s.Stats().PartialRecordBytes)
	if int64(alive)*sent > budget {
		t.Fatalf("%d stallers hold %d bytes each; want at most %d in all", alive, sent, budget)
	}
	if dropped != int64(stallers-alive) {
		t.Fatalf("partial_record_budget rejections %d; want %d", dropped, stallers-alive)
	}

	// An honest client is served (its record may close a staller).
	good := dialRaw(t, addr)
	good.sendRecord(callBody(1, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: appendHandle(nil, 1, up.root)}))
	_, r, err := replyHead(t, good.readReply())
	var res nfs3.GetattrRes
	if err != nil || res.Decode(r) != nil || res.Status != nfs3.StatOK {
		t.Fatalf("honest GETATTR: %v %v; want NFS3_OK", err, res.Status)
	}
	if got := s.Stats().PartialRecordBytes; got > budget {
		t.Fatalf("PartialRecordBytes %d; want at most %d", got, budget)
	}
}

// TestPartialRecordBytesValidated: a budget below one record is refused.
func TestPartialRecordBytesValidated(t *testing.T) {
	o := Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: &memUpstream{root: nfs3.FH{1}}}}, MaxRecord: 1 << 20, PartialRecordBytes: 1 << 19}
	o.setDefaults()
	if err := o.Validate(); err == nil {
		t.Fatal("Validate accepted PartialRecordBytes below MaxRecord")
	}
}
