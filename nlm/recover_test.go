package nlm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// notified collects the SM_NOTIFY calls a restarted server makes.
type notified struct {
	ch chan NotifyArgs
}

func (n *notified) notify(ctx context.Context, ip string, a *NotifyArgs) error {
	n.ch <- *a
	return nil
}

// restartRig returns a server on the shared upstream up with state file
// path, its SM_NOTIFY calls going to n.
func restartRig(t *testing.T, up *fakeUpstream, path string, n *notified, tweak func(*Options)) *rig {
	t.Helper()
	return newRig(t, func(o *Options) {
		o.Upstreams = map[uint16]Upstream{1: up}
		o.StateFile = path
		if n != nil {
			o.Notify = n.notify
		}
		if tweak != nil {
			tweak(o)
		}
	})
}

func lockStat(t *testing.T, c *Client, a *LockArgs) Stat {
	t.Helper()
	var res Res
	call(t, c, ProcLock, a, &res)
	return res.Stat
}

// A restarted server has its clients reclaim: it tells them (SM_NOTIFY,
// a state number higher than the last run's), serves reclaims against
// the upstream owners of the last run, refuses everything else while in
// grace, and at the end of grace releases what was not reclaimed. Another
// host never gets a lock a client held, restart or not.
func TestRestartReclaim(t *testing.T) {
	up := &fakeUpstream{}
	path := filepath.Join(t.TempDir(), "nlm.state")
	n1 := &notified{ch: make(chan NotifyArgs, 4)}
	rg1 := restartRig(t, up, path, n1, nil)
	a := rg1.client(t, "clientA")
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 100)}); st != Granted {
		t.Fatalf("LOCK svid 1: got %v; want granted", st)
	}
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 2, 200, 10)}); st != Granted {
		t.Fatalf("LOCK svid 2: got %v; want granted", st)
	}
	if rg1.srv.InGrace() {
		t.Fatal("first start without state: in grace; want not")
	}
	rg1.srv.Close() // the proxy stops; the upstream keeps its locks

	direct := func(off, n uint64) Stat {
		var res Res
		up.direct(t, ProcLock, &LockArgs{Exclusive: true, Lock: Lock{CallerName: "hostB", FH: []byte("file1"), OH: []byte("b"), Svid: 9, Offset: off, Len: n}}, &res)
		return res.Stat
	}
	if st := direct(50, 10); st != Denied {
		t.Fatalf("hostB LOCK while the proxy is down: got %v; want denied", st)
	}

	n2 := &notified{ch: make(chan NotifyArgs, 4)}
	rg2 := restartRig(t, up, path, n2, nil)
	got := await.Recv(t, "SM_NOTIFY after the restart", n2.ch)
	if got.Name != "proxy1" || got.State != 3 {
		t.Fatalf("SM_NOTIFY: got %+v; want name proxy1, state 3 (the first run was 1)", got)
	}
	if !rg2.srv.InGrace() {
		t.Fatal("restart with locks: not in grace; want grace")
	}
	a2 := rg2.client(t, "clientA")
	if st := lockStat(t, a2, &LockArgs{Exclusive: true, Lock: plock("clientA", 3, 1000, 10)}); st != DeniedGracePeriod {
		t.Fatalf("non-reclaim LOCK in grace: got %v; want denied_grace_period", st)
	}
	var tr TestRes
	call(t, a2, ProcTest, &TestArgs{Exclusive: true, Lock: plock("clientA", 3, 1000, 10)}, &tr)
	if tr.Stat != DeniedGracePeriod {
		t.Fatalf("TEST in grace: got %v; want denied_grace_period", tr.Stat)
	}
	if st := lockStat(t, a2, &LockArgs{Exclusive: true, Reclaim: true, Lock: plock("clientA", 1, 0, 100)}); st != Granted {
		t.Fatalf("reclaim svid 1: got %v; want granted", st)
	}
	if n := up.count(); n != 2 {
		t.Fatalf("upstream locks after the reclaim: got %d; want 2 (the reclaim re-locked the same owner's lock)", n)
	}
	if st := direct(50, 10); st != Denied {
		t.Fatalf("hostB LOCK of the reclaimed range: got %v; want denied", st)
	}
	if st := direct(200, 10); st != Denied {
		t.Fatalf("hostB LOCK of the range not reclaimed, in grace: got %v; want denied", st)
	}

	// The grace period ends: svid 2's lock, not reclaimed, is released.
	if err := rg2.clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	rg2.clock.Advance(90 * 1e9)
	await.Until(t, "the end of grace", func() bool { return !rg2.srv.InGrace() })
	if st := direct(200, 10); st != Granted {
		t.Fatalf("hostB LOCK of the range not reclaimed, after grace: got %v; want granted", st)
	}
	if st := direct(50, 10); st != Denied {
		t.Fatalf("hostB LOCK of the reclaimed range, after grace: got %v; want denied", st)
	}
	if st := lockStat(t, a2, &LockArgs{Exclusive: true, Reclaim: true, Lock: plock("clientA", 3, 1000, 10)}); st != DeniedGracePeriod {
		t.Fatalf("reclaim after grace: got %v; want denied_grace_period", st)
	}
	if st := lockStat(t, a2, &LockArgs{Exclusive: true, Lock: plock("clientA", 3, 1000, 10)}); st != Granted {
		t.Fatalf("LOCK after grace: got %v; want granted", st)
	}
	s := rg2.srv.Stats()
	if s.Reclaimed != 1 || s.GraceReleased != 1 || s.Notified != 1 || s.Grace || s.Held != 2 {
		t.Fatalf("stats: got %+v; want 1 reclaimed, 1 released, 1 notified, 2 held, out of grace", s)
	}
	var res Res
	call(t, a2, ProcUnlock, &UnlockArgs{Lock: plock("clientA", 1, 0, 0)}, &res)
	if st := direct(50, 10); st != Granted {
		t.Fatalf("hostB LOCK after clientA unlocked: got %v; want granted", st)
	}

	// A third start: only svid 3's lock is left to reclaim, state 5.
	rg2.srv.Close()
	n3 := &notified{ch: make(chan NotifyArgs, 4)}
	rg3 := restartRig(t, up, path, n3, nil)
	if got := await.Recv(t, "SM_NOTIFY after the second restart", n3.ch); got.State != 5 {
		t.Fatalf("SM_NOTIFY state: got %d; want 5", got.State)
	}
	p, err := loadState(osFS{}, path)
	if err != nil || len(p.Locks) != 1 || p.Locks[0].Svid != 3 || p.NSMState != 5 {
		t.Fatalf("state file: got %+v, %v; want svid 3's lock only, state 5", p, err)
	}
	rg3.srv.Close()
}

// Without a state file nothing is kept, no grace, no SM_NOTIFY.
func TestNoStateFileNoGrace(t *testing.T) {
	n := &notified{ch: make(chan NotifyArgs, 1)}
	rg := newRig(t, func(o *Options) { o.Notify = n.notify })
	a := rg.client(t, "clientA")
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 100)}); st != Granted {
		t.Fatalf("LOCK: got %v; want granted", st)
	}
	if rg.srv.InGrace() || len(n.ch) != 0 {
		t.Fatal("without a state file: grace or SM_NOTIFY; want neither")
	}
}

// A state file that does not load is reported, moved aside, and the
// server starts with no state: no grace, locks work.
func TestCorruptStateFile(t *testing.T) {
	good, err := encodeState(&persisted{Name: "proxy1", NSMState: 7, Locks: []persistedLock{
		{Client: "clientA", Addr: "127.0.0.1", Svid: 1, OH: []byte("oh"), UpSvid: 42, Vol: 1, UFH: []byte("file1")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-5] ^= 0x01
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-10]},
		{"header only", good[:bytes.IndexByte(good, '\n')+1]},
		{"bit flipped", flipped},
		{"garbage", []byte("\x00\x01not a state file\n{}")},
		{"bad checksum digits", append([]byte(stateMagic+"zzzzzzzz\n"), good[bytes.IndexByte(good, '\n')+1:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nlm.state")
			if err := os.WriteFile(path, tc.b, 0o600); err != nil {
				t.Fatal(err)
			}
			var logBuf syncBuffer
			n := &notified{ch: make(chan NotifyArgs, 1)}
			rg := restartRig(t, &fakeUpstream{}, path, n, func(o *Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
			})
			if !strings.Contains(logBuf.String(), "lock state file is unreadable") {
				t.Fatalf("log: got %q; want the unreadable state file reported", logBuf.String())
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Fatalf("corrupt file moved aside: %v", err)
			}
			if rg.srv.InGrace() || rg.srv.Stats().StateErrors != 1 {
				t.Fatalf("after a corrupt state file: grace %v, stats %+v; want no grace, 1 state error", rg.srv.InGrace(), rg.srv.Stats())
			}
			a := rg.client(t, "clientA")
			if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 100)}); st != Granted {
				t.Fatalf("LOCK: got %v; want granted", st)
			}
			if p, err := loadState(osFS{}, path); err != nil || p.NSMState != 1 || len(p.Locks) != 1 {
				t.Fatalf("new state file: got %+v, %v; want state 1 and the new lock", p, err)
			}
		})
	}
}

// failFS fails writes once fail is set.
type failFS struct {
	osFS
	mu   sync.Mutex
	fail bool
}

func (f *failFS) WriteAtomic(name string, b []byte) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("injected ENOSPC")
	}
	return f.osFS.WriteAtomic(name, b)
}

// A LOCK whose state cannot be written is not forwarded: it is answered
// denied_nolocks, so the upstream never holds a lock a restart would not
// know of.
func TestStateWriteFailureRefusesLock(t *testing.T) {
	fsys := &failFS{}
	up := &fakeUpstream{}
	rg := restartRig(t, up, filepath.Join(t.TempDir(), "nlm.state"), nil, func(o *Options) { o.stateFS = fsys })
	a := rg.client(t, "clientA")
	fsys.mu.Lock()
	fsys.fail = true
	fsys.mu.Unlock()
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 100)}); st != DeniedNoLocks {
		t.Fatalf("LOCK with the state unwritable: got %v; want denied_nolocks", st)
	}
	if n := up.count(); n != 0 {
		t.Fatalf("upstream locks: got %d; want 0", n)
	}
	if rg.srv.Stats().StateErrors == 0 {
		t.Fatal("state errors: got 0; want some")
	}
}

// A state file written under another name is not used: its locks belong
// to that caller_name upstream.
func TestStateFileOfAnotherName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nlm.state")
	b, _ := encodeState(&persisted{Name: "other", NSMState: 3, Locks: []persistedLock{
		{Client: "clientA", Addr: "127.0.0.1", Svid: 1, UpSvid: 42, Vol: 1, UFH: []byte("file1")},
	}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	n := &notified{ch: make(chan NotifyArgs, 1)}
	rg := restartRig(t, &fakeUpstream{}, path, n, nil)
	if rg.srv.InGrace() || len(n.ch) != 0 || rg.srv.Stats().StateErrors != 1 {
		t.Fatalf("state of another name: grace %v, %d notifies, stats %+v; want none, 1 state error", rg.srv.InGrace(), len(n.ch), rg.srv.Stats())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func FuzzDecodeState(f *testing.F) {
	good, _ := encodeState(&persisted{Name: "p", NSMState: 1, Locks: []persistedLock{{Client: "c", Addr: "127.0.0.1", Svid: 1, UpSvid: 2, Vol: 1, UFH: []byte("f")}}})
	f.Add(good)
	f.Add([]byte(stateMagic + "00000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeState(b)
		if err != nil {
			if !errors.Is(err, ErrStateCorrupt) {
				t.Fatalf("error %v does not wrap ErrStateCorrupt", err)
			}
			return
		}
		if _, err := encodeState(p); err != nil {
			t.Fatal(err)
		}
	})
}

// An upstream's reboot (its SM_NOTIFY, from its address) is relayed: the
// clients holding locks there are told to reclaim, their reclaims go to
// the upstream as reclaims, and the volume is in grace meanwhile. An
// SM_NOTIFY from elsewhere starts no grace.
func TestUpstreamRebootRelayed(t *testing.T) {
	n := &notified{ch: make(chan NotifyArgs, 4)}
	rg := newRig(t, func(o *Options) {
		o.Notify = n.notify
		o.UpstreamIPs = map[uint16][]string{1: {"127.0.0.2"}}
	})
	ua := startUDP(t, rg.srv)
	a := rg.client(t, "clientA")
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 100)}); st != Granted {
		t.Fatalf("LOCK: got %v; want granted", st)
	}
	udpCallFrom(t, "127.0.0.3", ua, ProgramNSM, VersionNSM, ProcSMNotify, &NotifyArgs{Name: "somehost", State: 9}, Void)
	if rg.srv.InGrace() {
		t.Fatal("SM_NOTIFY from a host that is no upstream: in grace; want not")
	}
	rg.up.reboot()
	udpCallFrom(t, "127.0.0.2", ua, ProgramNSM, VersionNSM, ProcSMNotify, &NotifyArgs{Name: "filer", State: 9}, Void)
	got := await.Recv(t, "SM_NOTIFY relayed to clientA", n.ch)
	if got.Name != "proxy1" || got.State != 3 {
		t.Fatalf("relayed SM_NOTIFY: got %+v; want proxy1, state 3", got)
	}
	b := rg.client(t, "clientB")
	if st := lockStat(t, b, &LockArgs{Exclusive: true, Lock: plock("clientB", 1, 0, 10)}); st != DeniedGracePeriod {
		t.Fatalf("another client's LOCK in the relayed grace: got %v; want denied_grace_period", st)
	}
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Reclaim: true, Lock: plock("clientA", 1, 0, 100)}); st != Granted {
		t.Fatalf("reclaim: got %v; want granted", st)
	}
	rg.up.mu.Lock()
	reclaims := rg.up.reclaims
	rg.up.mu.Unlock()
	if reclaims != 1 || rg.up.count() != 1 {
		t.Fatalf("upstream: %d reclaims, %d locks; want the reclaim forwarded as one, 1 lock", reclaims, rg.up.count())
	}
	if err := rg.clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	rg.clock.Advance(90 * 1e9)
	await.Until(t, "the end of grace", func() bool { return !rg.srv.InGrace() })
	if st := lockStat(t, b, &LockArgs{Exclusive: true, Lock: plock("clientB", 1, 0, 10)}); st != Denied {
		t.Fatalf("another client's LOCK of the reclaimed range after grace: got %v; want denied", st)
	}
	if s := rg.srv.Stats(); s.UpstreamReboots != 1 || s.Reclaimed != 1 || s.GraceReleased != 0 {
		t.Fatalf("stats: got %+v; want 1 upstream reboot, 1 reclaimed, none released", s)
	}
}

// The state file is bounded: a LOCK of a file more than it may list is
// answered denied_nolocks and not forwarded; another LOCK of a file
// already listed still is.
func TestStateFileBounded(t *testing.T) {
	up := &fakeUpstream{}
	rg := restartRig(t, up, filepath.Join(t.TempDir(), "nlm.state"), nil, func(o *Options) { o.maxRecorded = 1 })
	a := rg.client(t, "clientA")
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 10)}); st != Granted {
		t.Fatalf("first LOCK: got %v; want granted", st)
	}
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 20, 10)}); st != Granted {
		t.Fatalf("LOCK of the listed file again: got %v; want granted", st)
	}
	other := plock("clientA", 1, 0, 10)
	other.FH = []byte("Pfile2")
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: other}); st != DeniedNoLocks {
		t.Fatalf("LOCK of a file more than the state file may list: got %v; want denied_nolocks", st)
	}
	if n := up.count(); n != 2 {
		t.Fatalf("upstream locks: got %d; want 2", n)
	}
}

// crashFS crashes a write after its temporary file is written and synced
// and before the rename, as a kill -9 there would: the temporary file
// stays, the state file is the old one.
type crashFS struct {
	osFS
	mu      sync.Mutex
	crash   bool
	crashed bool
}

func (f *crashFS) WriteAtomic(name string, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.crash {
		return f.osFS.WriteAtomic(name, b)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	tmp.Write(b)
	tmp.Sync()
	tmp.Close()
	f.crashed = true
	return errors.New("crashed before the rename")
}

// A write interrupted before its rename leaves the previous state file,
// which the next start loads; the temporary file is removed then.
func TestStateWriteCrashKeepsOldFile(t *testing.T) {
	up := &fakeUpstream{}
	path := filepath.Join(t.TempDir(), "nlm.state")
	fsys := &crashFS{}
	rg1 := restartRig(t, up, path, nil, func(o *Options) { o.stateFS = fsys })
	a := rg1.client(t, "clientA")
	if st := lockStat(t, a, &LockArgs{Exclusive: true, Lock: plock("clientA", 1, 0, 10)}); st != Granted {
		t.Fatalf("LOCK: got %v; want granted", st)
	}
	fsys.mu.Lock()
	fsys.crash = true
	fsys.mu.Unlock()
	var res Res
	call(t, a, ProcUnlock, &UnlockArgs{Lock: plock("clientA", 1, 0, 0)}, &res) // its state write crashes
	fsys.mu.Lock()
	crashed := fsys.crashed
	fsys.mu.Unlock()
	if !crashed {
		t.Fatal("the crash point (a state write after the UNLOCK) was not reached")
	}
	rg1.srv.Close()
	if tmps, _ := filepath.Glob(path + ".tmp-*"); len(tmps) != 1 {
		t.Fatalf("temporary files after the crash: got %v; want one", tmps)
	}
	n := &notified{ch: make(chan NotifyArgs, 1)}
	rg2 := restartRig(t, up, path, n, nil)
	if !rg2.srv.InGrace() {
		t.Fatal("restart after the crashed write: not in grace; want grace (the old file lists the lock)")
	}
	if tmps, _ := filepath.Glob(path + ".tmp-*"); len(tmps) != 0 {
		t.Fatalf("temporary files after the restart: got %v; want none", tmps)
	}
}
