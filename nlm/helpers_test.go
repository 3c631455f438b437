package nlm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// fakeUpstream is an in-process NLM lock table: owners are (caller_name,
// svid) as in ganesha and knfsd; len 0 means to the end of the file.
type fakeUpstream struct {
	mu       sync.Mutex
	locks    []heldLock
	blocking bool // answer a blocking LOCK in conflict with Blocked
	calls    []uint32
	reclaims int      // LOCKs with reclaim set
	sent     chan Res // one-way GRANTED_RES calls (Send), when not nil
}

func (u *fakeUpstream) Send(ctx context.Context, proc uint32, args xdr.Encoder) error {
	w := xdr.NewWriter(nil)
	args.Encode(w)
	var r Res
	if proc != ProcGrantedRes || r.Decode(xdr.NewReader(w.Buf)) != nil {
		return errors.New("fakeUpstream: unexpected one-way call")
	}
	u.sent <- r
	return nil
}

type heldLock struct {
	caller string
	svid   int32
	oh     []byte
	fh     string
	excl   bool
	off    uint64
	len    uint64
}

func overlaps(aOff, aLen, bOff, bLen uint64) bool {
	aEnd, bEnd := aOff+aLen, bOff+bLen
	if aLen == 0 {
		aEnd = ^uint64(0)
	}
	if bLen == 0 {
		bEnd = ^uint64(0)
	}
	return aOff < bEnd && bOff < aEnd
}

func (u *fakeUpstream) conflict(l *Lock, excl bool) *heldLock {
	for i := range u.locks {
		h := &u.locks[i]
		if h.caller == l.CallerName && h.svid == l.Svid || h.fh != string(l.FH) {
			continue
		}
		if (excl || h.excl) && overlaps(h.off, h.len, l.Offset, l.Len) {
			return h
		}
	}
	return nil
}

func (u *fakeUpstream) Call(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, proc)
	// Round-trip through XDR, as the wire would.
	w := xdr.NewWriter(nil)
	args.Encode(w)
	r := xdr.NewReader(w.Buf)
	out := xdr.NewWriter(nil)
	switch proc {
	case ProcTest:
		var a TestArgs
		a.Decode(r)
		tr := TestRes{Cookie: a.Cookie}
		if h := u.conflict(&a.Lock, a.Exclusive); h != nil {
			tr.Stat, tr.Holder = Denied, Holder{Exclusive: h.excl, Svid: h.svid, OH: h.oh, Offset: h.off, Len: h.len}
		}
		tr.Encode(out)
	case ProcLock:
		var a LockArgs
		a.Decode(r)
		if a.Reclaim {
			u.reclaims++
		}
		rs := Res{Cookie: a.Cookie}
		switch {
		case u.conflict(&a.Lock, a.Exclusive) == nil:
			u.unlockLocked(&a.Lock) // the owner's own lock of the range is replaced, as POSIX locks are
			u.locks = append(u.locks, heldLock{caller: a.Lock.CallerName, svid: a.Lock.Svid, oh: bytes.Clone(a.Lock.OH),
				fh: string(a.Lock.FH), excl: a.Exclusive, off: a.Lock.Offset, len: a.Lock.Len})
		case a.Block && u.blocking:
			rs.Stat = Blocked
		default:
			rs.Stat = Denied
		}
		rs.Encode(out)
	case ProcUnlock:
		var a UnlockArgs
		a.Decode(r)
		u.unlockLocked(&a.Lock)
		(&Res{Cookie: a.Cookie}).Encode(out)
	case ProcCancel:
		var a CancArgs
		a.Decode(r)
		(&Res{Cookie: a.Cookie}).Encode(out)
	}
	return res.Decode(xdr.NewReader(out.Buf))
}

func (u *fakeUpstream) unlockLocked(l *Lock) {
	kept := u.locks[:0]
	for _, h := range u.locks {
		if h.caller == l.CallerName && h.svid == l.Svid && h.fh == string(l.FH) && overlaps(h.off, h.len, l.Offset, l.Len) {
			continue
		}
		kept = append(kept, h)
	}
	u.locks = kept
}

func (u *fakeUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.locks)
}

// direct locks as another host would, straight at the upstream.
func (u *fakeUpstream) direct(t *testing.T, proc uint32, args xdr.Encoder, res xdr.Decoder) {
	t.Helper()
	if err := u.Call(context.Background(), proc, args, res); err != nil {
		t.Fatal(err)
	}
}

// fakeFiles maps proxy handle "P"+ufh of volume 1 to ufh.
type fakeFiles struct {
	refuse  func(netip.AddrPort) bool // nil: everyone may
	mu      sync.Mutex
	granted []string
}

func (f *fakeFiles) Resolve(fh []byte) (uint16, []byte, bool) {
	if len(fh) < 2 || fh[0] != 'P' {
		return 0, nil, false
	}
	return 1, fh[1:], true
}

func (f *fakeFiles) Allowed(vol uint16, addr netip.AddrPort) bool {
	return f.refuse == nil || !f.refuse(addr)
}

func (f *fakeFiles) Granted(fh []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.granted = append(f.granted, string(fh))
}

func (f *fakeFiles) grants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.granted...)
}

type rig struct {
	srv   *Server
	up    *fakeUpstream
	files *fakeFiles
	clock *clockwork.FakeClock
	addr  string
	cb    chan *TestArgs // GRANTED callbacks to clients
	cbRes Stat
}

func newRig(t *testing.T, tweak func(*Options)) *rig {
	t.Helper()
	rg := &rig{up: &fakeUpstream{}, files: &fakeFiles{}, clock: clockwork.NewFakeClock(), cb: make(chan *TestArgs, 16)}
	opts := Options{
		Name: "proxy1", Files: rg.files, Upstreams: map[uint16]Upstream{1: rg.up}, Clock: rg.clock,
		Callback: func(ctx context.Context, ip string, a *TestArgs) (Stat, error) {
			c := *a
			c.Lock = cloneLock(a.Lock)
			rg.cb <- &c
			return rg.cbRes, nil
		},
	}
	if tweak != nil {
		tweak(&opts)
	}
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
	rg.srv, rg.addr = s, l.Addr().String()
	return rg
}

func (rg *rig) client(t *testing.T, name string) *Client {
	c := NewClient(rg.addr, Program, Version4, name)
	t.Cleanup(func() { c.Close() })
	return c
}

func call(t *testing.T, c *Client, proc uint32, args xdr.Encoder, res xdr.Decoder) {
	t.Helper()
	if err := c.Call(context.Background(), proc, args, res); err != nil {
		t.Fatalf("call %d: %v", proc, err)
	}
}

// flakyUpstream fails the first call with a lost connection.
type flakyUpstream struct {
	*fakeUpstream
	failed bool
}

func (f *flakyUpstream) Call(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	if !f.failed {
		f.failed = true
		return fmt.Errorf("%w: test", ErrConnection)
	}
	return f.fakeUpstream.Call(ctx, proc, args, res)
}

// reboot loses every lock, as a rebooted lock manager does.
func (u *fakeUpstream) reboot() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.locks = nil
}
