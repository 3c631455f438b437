package nlm

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

func plock(name string, svid int32, off, n uint64) Lock {
	return Lock{CallerName: name, FH: []byte("Pfile1"), OH: []byte("oh-" + name), Svid: svid, Offset: off, Len: n}
}

// A lock taken through the proxy excludes another host's lock at the
// upstream, and the reverse; TEST reports the holder.
func TestLockContendsWithDirectHost(t *testing.T) {
	rg := newRig(t, nil)
	a := rg.client(t, "clientA")
	var res Res
	call(t, a, ProcLock, &LockArgs{Cookie: []byte{1}, Exclusive: true, Lock: plock("clientA", 100, 0, 10)}, &res)
	if res.Stat != Granted || string(res.Cookie) != "\x01" {
		t.Fatalf("LOCK through the proxy: got %v cookie %x; want granted cookie 01", res.Stat, res.Cookie)
	}
	if g := rg.files.grants(); len(g) != 1 || g[0] != "Pfile1" {
		t.Fatalf("Files.Granted: got %q; want [Pfile1]", g)
	}
	// The other host, directly at the upstream.
	other := Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: 100, Offset: 5, Len: 1}
	var tr TestRes
	rg.up.direct(t, ProcTest, &TestArgs{Exclusive: true, Lock: other}, &tr)
	if tr.Stat != Denied {
		t.Fatalf("direct TEST: got %v; want denied", tr.Stat)
	}
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	if res.Stat != Denied {
		t.Fatalf("direct LOCK: got %v; want denied", res.Stat)
	}
	call(t, a, ProcUnlock, &UnlockArgs{Lock: plock("clientA", 100, 0, 10)}, &res)
	if res.Stat != Granted {
		t.Fatalf("UNLOCK: got %v; want granted", res.Stat)
	}
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	if res.Stat != Granted {
		t.Fatalf("direct LOCK after UNLOCK: got %v; want granted", res.Stat)
	}
	// Now the proxy's client sees the other host as the holder.
	call(t, a, ProcTest, &TestArgs{Cookie: []byte{2}, Exclusive: false, Lock: plock("clientA", 100, 0, 0)}, &tr)
	if tr.Stat != Denied || tr.Holder.Svid != 100 || string(tr.Holder.OH) != "b" || tr.Holder.Offset != 5 || tr.Holder.Len != 1 {
		t.Fatalf("TEST through the proxy: got %v %+v; want denied by svid 100 oh b at 5+1", tr.Stat, tr.Holder)
	}
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 100, 0, 0)}, &res)
	if res.Stat != Denied {
		t.Fatalf("LOCK through the proxy while held directly: got %v; want denied", res.Stat)
	}
}

// Two clients using the same svid are different owners upstream; the same
// client and svid is one owner. A holder behind the proxy is shown to
// another client with its own svid and owner handle.
func TestOwnersStayDistinct(t *testing.T) {
	rg := newRig(t, nil)
	a, b := rg.client(t, "clientA"), rg.client(t, "clientB")
	var res Res
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 7, 0, 0)}, &res)
	if res.Stat != Granted {
		t.Fatalf("A LOCK: got %v; want granted", res.Stat)
	}
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 7, 0, 100)}, &res)
	if res.Stat != Granted {
		t.Fatalf("A LOCK again by the same owner: got %v; want granted", res.Stat)
	}
	call(t, b, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientB", 7, 0, 0)}, &res)
	if res.Stat != Denied {
		t.Fatalf("B LOCK with A's svid: got %v; want denied", res.Stat)
	}
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 8, 0, 0)}, &res)
	if res.Stat != Denied {
		t.Fatalf("A LOCK by another process: got %v; want denied", res.Stat)
	}
	var tr TestRes
	call(t, b, ProcTest, &TestArgs{Exclusive: true, Lock: plock("clientB", 7, 0, 0)}, &tr)
	if tr.Stat != Denied || tr.Holder.Svid != 7 || string(tr.Holder.OH) != "oh-clientA" {
		t.Fatalf("B TEST: got %v %+v; want denied by svid 7 oh oh-clientA", tr.Stat, tr.Holder)
	}
}

func TestOwnerMapping(t *testing.T) {
	m := newOwners("px", 0)
	a1 := owner{c: client{"a", "10.0.0.1"}, svid: 1, oh: "x"}
	b1 := owner{c: client{"b", "10.0.0.2"}, svid: 1, oh: "x"}
	ua, ub := m.up(a1), m.up(b1)
	if ua.svid == ub.svid {
		t.Fatalf("two clients' svid 1: got the same upstream svid %d; want distinct", ua.svid)
	}
	if again := m.up(a1); again.svid != ua.svid || string(again.oh) != string(ua.oh) {
		t.Fatalf("same owner twice: got %+v then %+v; want equal", ua, again)
	}
	if string(ua.oh) != "1@px" {
		t.Fatalf("upstream owner handle: got %q; want 1@px", ua.oh)
	}
	if o, ok := m.down(ub.svid); !ok || o != b1 {
		t.Fatalf("down(%d): got %+v %v; want %+v", ub.svid, o, ok, b1)
	}
	if cs := m.clientsWhere(func(c client) bool { return c.name == "a" }); len(cs) != 1 || cs[0] != a1.c {
		t.Fatalf("clientsWhere(name a): got %v; want [%v]", cs, a1.c)
	}
	if ups := m.forget(a1.c); len(ups) != 1 || ups[0].svid != ua.svid {
		t.Fatalf("forget: got %+v; want [%+v]", ups, ua)
	}
	if _, ok := m.down(ua.svid); ok {
		t.Fatal("down after forget: got ok; want not found")
	}
}

// A blocking LOCK in conflict is answered BLOCKED, retried upstream, and
// granted to the client with a GRANTED callback once the holder unlocks;
// the file's cache is revalidated before that callback.
func TestBlockingLockGrantedAfterUnlock(t *testing.T) {
	rg := newRig(t, func(o *Options) { o.PollInterval = time.Second })
	other := Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: 1}
	var res Res
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	a := rg.client(t, "clientA")
	want := plock("clientA", 5, 0, 0)
	call(t, a, ProcLock, &LockArgs{Cookie: []byte("ck"), Block: true, Exclusive: true, Lock: want}, &res)
	if res.Stat != Blocked {
		t.Fatalf("blocking LOCK: got %v; want blocked", res.Stat)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One retry while still held: still blocked.
	if err := rg.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("waiting for the retry timer: %v", err)
	}
	rg.clock.Advance(time.Second)
	if err := rg.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("waiting for the second retry timer: %v", err)
	}
	select {
	case g := <-rg.cb:
		t.Fatalf("GRANTED while the other host holds the lock: %+v", g)
	default:
	}
	rg.up.direct(t, ProcUnlock, &UnlockArgs{Lock: other}, &res)
	rg.clock.Advance(time.Second)
	var g *TestArgs
	select {
	case g = <-rg.cb:
	case <-ctx.Done():
		t.Fatal("no GRANTED callback after the holder unlocked")
	}
	if string(g.Cookie) != "ck" || !g.Exclusive || g.Lock.Svid != 5 || string(g.Lock.FH) != "Pfile1" || string(g.Lock.OH) != "oh-clientA" {
		t.Fatalf("GRANTED: got %+v; want the client's own lock and cookie", g)
	}
	if gr := rg.files.grants(); len(gr) != 1 {
		t.Fatalf("Files.Granted calls: got %d; want 1", len(gr))
	}
	if n := rg.srv.BlockedCount(); n != 0 {
		t.Fatalf("blocked requests after the grant: got %d; want 0", n)
	}
	if st := rg.srv.Stats(); st.Blocked != 1 || st.Callbacks != 1 || st.CallbackFailed != 0 || st.Waiting != 0 || st.Owners != 1 {
		t.Fatalf("Stats: got %+v; want 1 blocked, 1 callback, none failed or waiting, 1 owner", st)
	}
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	if res.Stat != Denied {
		t.Fatalf("the other host after the grant: got %v; want denied", res.Stat)
	}
}

// A client that refuses the GRANTED callback (it gave up waiting) does not
// keep the lock upstream.
func TestRefusedGrantReleases(t *testing.T) {
	rg := newRig(t, nil)
	rg.cbRes = Denied
	other := Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: 1}
	var res Res
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	a := rg.client(t, "clientA")
	call(t, a, ProcLock, &LockArgs{Block: true, Exclusive: true, Lock: plock("clientA", 5, 0, 0)}, &res)
	rg.up.direct(t, ProcUnlock, &UnlockArgs{Lock: other}, &res)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rg.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rg.clock.Advance(2 * time.Second)
	<-rg.cb
	await.Until(t, "the refused lock released upstream", func() bool { return rg.up.count() == 0 })
}

// CANCEL stops the retries; nothing is granted afterwards.
func TestCancelStopsRetries(t *testing.T) {
	rg := newRig(t, nil)
	other := Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: 1}
	var res Res
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	a := rg.client(t, "clientA")
	l := plock("clientA", 5, 0, 0)
	call(t, a, ProcLock, &LockArgs{Block: true, Exclusive: true, Lock: l}, &res)
	if n := rg.srv.BlockedCount(); n != 1 {
		t.Fatalf("blocked: got %d; want 1", n)
	}
	call(t, a, ProcCancel, &CancArgs{Block: true, Exclusive: true, Lock: l}, &res)
	if res.Stat != Granted {
		t.Fatalf("CANCEL: got %v; want granted", res.Stat)
	}
	if n := rg.srv.BlockedCount(); n != 0 {
		t.Fatalf("blocked after CANCEL: got %d; want 0", n)
	}
}

// With UpstreamBlocking the upstream queues the lock and calls GRANTED
// back; the proxy relays it to the client that asked.
func TestUpstreamGrantedRelayed(t *testing.T) {
	rg := newRig(t, func(o *Options) { o.UpstreamBlocking = true; o.PollInterval = time.Hour })
	rg.up.blocking = true
	other := Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: 1}
	var res Res
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	a := rg.client(t, "clientA")
	call(t, a, ProcLock, &LockArgs{Cookie: []byte("c1"), Block: true, Exclusive: true, Lock: plock("clientA", 5, 0, 0)}, &res)
	if res.Stat != Blocked {
		t.Fatalf("blocking LOCK: got %v; want blocked", res.Stat)
	}
	// The upstream's view of the queued lock: our name and mapped owner.
	up := rg.srv.owners.up(owner{c: client{"clientA", "127.0.0.1"}, svid: 5, oh: "oh-clientA"})
	upstream := NewClient(rg.addr, Program, Version4, "upstream")
	defer upstream.Close()
	ul := Lock{CallerName: "proxy1", FH: []byte("file1"), OH: up.oh, Svid: up.svid}
	call(t, upstream, ProcGranted, &TestArgs{Cookie: []byte("u"), Exclusive: true, Lock: ul}, &res)
	if res.Stat != Granted || string(res.Cookie) != "u" {
		t.Fatalf("upstream GRANTED: got %v %q; want granted u", res.Stat, res.Cookie)
	}
	g := <-rg.cb
	if string(g.Cookie) != "c1" || g.Lock.Svid != 5 {
		t.Fatalf("relayed GRANTED: got %+v; want cookie c1 svid 5", g)
	}
	// The asynchronous form, as ganesha sends it: GRANTED_MSG in, the
	// answer back to the upstream as GRANTED_RES.
	rg.up.sent = make(chan Res, 1)
	up6 := rg.srv.owners.up(owner{c: client{"clientA", "127.0.0.1"}, svid: 6, oh: "oh-clientA"})
	call(t, a, ProcLock, &LockArgs{Cookie: []byte("c3"), Block: true, Exclusive: true, Lock: plock("clientA", 6, 0, 0)}, &res)
	if res.Stat != Blocked {
		t.Fatalf("blocking LOCK by another owner: got %v; want blocked", res.Stat)
	}
	ul6 := Lock{CallerName: "proxy1", FH: []byte("file1"), OH: up6.oh, Svid: up6.svid}
	if err := upstream.Send(context.Background(), ProcGrantedMsg, &TestArgs{Cookie: []byte("m"), Exclusive: true, Lock: ul6}); err != nil {
		t.Fatal(err)
	}
	if r := <-rg.up.sent; r.Stat != Granted || string(r.Cookie) != "m" {
		t.Fatalf("GRANTED_RES: got %v %q; want granted m", r.Stat, r.Cookie)
	}
	if g := <-rg.cb; string(g.Cookie) != "c3" || g.Lock.Svid != 6 {
		t.Fatalf("relayed GRANTED of GRANTED_MSG: got %+v; want cookie c3 svid 6", g)
	}
	// A GRANTED for nothing we wait on is refused.
	ul.Svid = 999
	call(t, upstream, ProcGranted, &TestArgs{Lock: ul}, &res)
	if res.Stat != Denied {
		t.Fatalf("GRANTED for an unknown owner: got %v; want denied", res.Stat)
	}
}

// FREE_ALL (a client rebooted) releases its locks upstream.
func TestFreeAllReleasesUpstream(t *testing.T) {
	rg := newRig(t, nil)
	a := rg.client(t, "clientA")
	var res Res
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 10)}, &res)
	call(t, a, ProcLock, &LockArgs{Exclusive: false, Lock: plock("clientA", 2, 20, 10)}, &res)
	b := rg.client(t, "clientB")
	call(t, b, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientB", 1, 100, 10)}, &res)
	if n := rg.up.count(); n != 3 {
		t.Fatalf("upstream locks: got %d; want 3", n)
	}
	call(t, b, ProcFreeAll, &NotifyArgs{Name: "clientA", State: 3}, Void) // same address, so it may
	if n := rg.up.count(); n != 1 {
		t.Fatalf("upstream locks after FREE_ALL clientA: got %d; want 1 (clientB's)", n)
	}
	call(t, a, ProcFreeAll, &NotifyArgs{Name: "clientA", State: 3}, Void)
	if n := rg.up.count(); n != 1 {
		t.Fatalf("upstream locks after FREE_ALL clientA: got %d; want 1 (clientB's)", n)
	}
}

// A volume whose upstream has no NLM answers denied_nolocks; a handle
// that is not ours is stale_fh; NLM v1 is PROG_MISMATCH.
func TestRefusals(t *testing.T) {
	rg := newRig(t, func(o *Options) { o.Upstreams = nil })
	a := rg.client(t, "clientA")
	var res Res
	var res2 TestRes
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 0)}, &res)
	if res.Stat != DeniedNoLocks {
		t.Fatalf("LOCK without an upstream NLM: got %v; want denied_nolocks", res.Stat)
	}
	bad := plock("clientA", 1, 0, 0)
	bad.FH = []byte("Xnot-ours")
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: bad}, &res)
	if res.Stat != StaleFH {
		t.Fatalf("LOCK of a foreign handle: got %v; want stale_fh", res.Stat)
	}
	rg.files.refuse = func(netip.AddrPort) bool { return true }
	call(t, a, ProcTest, &TestArgs{Lock: plock("clientA", 1, 0, 0)}, &res2)
	if res2.Stat != Failed {
		t.Fatalf("TEST from a client the volume refuses: got %v; want failed", res2.Stat)
	}
	v1 := NewClient(rg.addr, Program, 1, "x")
	defer v1.Close()
	err := v1.Call(context.Background(), ProcNull, Void, Void)
	var re *rpc.ReplyError
	if !errors.As(err, &re) || re.AcceptStat != rpc.ProgMismatch || re.Low != 4 || re.High != 4 {
		t.Fatalf("NLM v1 NULL: got %v; want PROG_MISMATCH 4..4", err)
	}
}

// Owner mappings do not outlive what the upstream holds of them: a TEST
// or a denied LOCK leaves none, a whole-file UNLOCK drops the holder's, a
// partial one keeps it (the upstream may still hold the rest).
func TestOwnerMappingsArePruned(t *testing.T) {
	rg := newRig(t, nil)
	a, b := rg.client(t, "clientA"), rg.client(t, "clientB")
	owners := func() int { return rg.srv.Stats().Owners }
	var res Res
	var tr TestRes
	call(t, a, ProcTest, &TestArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 0)}, &tr)
	if n := owners(); n != 0 {
		t.Fatalf("owners after a TEST: got %d; want 0", n)
	}
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 10)}, &res)
	call(t, b, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientB", 1, 0, 10)}, &res)
	if res.Stat != Denied {
		t.Fatalf("B LOCK: got %v; want denied", res.Stat)
	}
	if n := owners(); n != 1 {
		t.Fatalf("owners with A holding and B denied: got %d; want 1", n)
	}
	call(t, a, ProcUnlock, &UnlockArgs{Lock: plock("clientA", 1, 20, 5)}, &res) // the fake does not split ranges
	if n := owners(); n != 1 {
		t.Fatalf("owners after a partial UNLOCK: got %d; want 1", n)
	}
	// The holder is still shown with its own svid while mapped.
	call(t, b, ProcTest, &TestArgs{Exclusive: true, Lock: plock("clientB", 1, 0, 0)}, &tr)
	if tr.Stat != Denied || tr.Holder.Svid != 1 {
		t.Fatalf("B TEST: got %v %+v; want denied by svid 1", tr.Stat, tr.Holder)
	}
	call(t, a, ProcUnlock, &UnlockArgs{Lock: plock("clientA", 1, 0, 0)}, &res)
	if n, held := owners(), rg.up.count(); n != 0 || held != 0 {
		t.Fatalf("after a whole-file UNLOCK: got %d owners, %d upstream locks; want 0, 0", n, held)
	}
	call(t, b, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientB", 1, 0, 10)}, &res)
	if res.Stat != Granted {
		t.Fatalf("B LOCK after A's UNLOCK: got %v; want granted", res.Stat)
	}
}

// A call whose upstream connection was lost is sent once more.
func TestLostConnectionRetriedOnce(t *testing.T) {
	up := &flakyUpstream{fakeUpstream: &fakeUpstream{}}
	rg := newRig(t, func(o *Options) { o.Upstreams = map[uint16]Upstream{1: up} })
	rg.up = up.fakeUpstream
	a := rg.client(t, "clientA")
	var res Res
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 0)}, &res)
	if res.Stat != Granted || rg.up.count() != 1 {
		t.Fatalf("LOCK after a lost connection: got %v with %d upstream locks; want granted, 1", res.Stat, rg.up.count())
	}
}

// Another host's holder whose svid happens to equal one of our upstream
// svids is shown as the upstream reports it, told apart by its owner
// handle.
func TestForeignHolderWithOurSvid(t *testing.T) {
	rg := newRig(t, nil)
	a := rg.client(t, "clientA")
	var res Res
	call(t, a, ProcLock, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 10)}, &res)
	up, ok := rg.srv.owners.lookup(owner{c: client{"clientA", "127.0.0.1"}, svid: 1, oh: "oh-clientA"})
	if !ok {
		t.Fatal("no upstream owner for clientA's svid 1")
	}
	other := Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: up.svid, Offset: 100, Len: 10}
	rg.up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: other}, &res)
	var tr TestRes
	call(t, a, ProcTest, &TestArgs{Exclusive: true, Lock: plock("clientA", 2, 100, 1)}, &tr)
	if tr.Stat != Denied || tr.Holder.Svid != up.svid || string(tr.Holder.OH) != "b" {
		t.Fatalf("TEST: got %v %+v; want denied by hostB's svid %d oh b", tr.Stat, tr.Holder, up.svid)
	}
}

// NM_LOCK is a non-blocking LOCK: granted when free, denied (never
// blocked) in conflict, released by FREE_ALL.
func TestNMLock(t *testing.T) {
	rg := newRig(t, nil)
	a := rg.client(t, "clientA")
	var res Res
	call(t, a, ProcNMLock, &LockArgs{Cookie: []byte("n1"), Exclusive: true, Lock: plock("clientA", 1, 0, 10)}, &res)
	if res.Stat != Granted || string(res.Cookie) != "n1" {
		t.Fatalf("NM_LOCK: got %v cookie %q; want granted, n1", res.Stat, res.Cookie)
	}
	b := rg.client(t, "clientB")
	call(t, b, ProcNMLock, &LockArgs{Block: true, Exclusive: true, Lock: plock("clientB", 1, 5, 10)}, &res)
	if res.Stat != Denied {
		t.Fatalf("NM_LOCK in conflict, block set: got %v; want denied", res.Stat)
	}
	call(t, a, ProcFreeAll, &NotifyArgs{Name: "clientA", State: 2}, Void)
	if n := rg.up.count(); n != 0 {
		t.Fatalf("upstream locks after FREE_ALL: got %d; want 0", n)
	}
}
