package nlm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// target is a client's lock translated for the upstream.
type target struct {
	vol   uint16
	up    Upstream
	c     client
	own   owner
	upOwn upOwner
	lock  Lock // the upstream's view: our name, upstream handle and owner
	// reclaim: forward the LOCK with reclaim set (the upstream rebooted
	// and is in its grace period; see recover.go).
	reclaim bool
}

// translate maps a client's lock to the upstream's. stat is non-zero
// (and the lock unusable) when the handle is not ours or the volume's
// upstream serves no NLM.
func (s *Server) translate(from netip.AddrPort, l *Lock) (t target, stat Stat, ok bool) {
	vol, ufh, ok := s.opts.Files.Resolve(l.FH)
	if !ok {
		return t, StaleFH, false
	}
	if !s.opts.Files.Allowed(vol, from) {
		return t, Failed, false
	}
	up := s.opts.Upstreams[vol]
	if up == nil {
		s.mu.Lock()
		first := !s.nolocksLogged[vol]
		s.nolocksLogged[vol] = true
		s.mu.Unlock()
		s.stats.nolocks.Add(1)
		if first {
			s.log.Warn("nlm: the upstream of this volume serves no NLM: lock requests are denied (mount with nolock or local_lock=all)", "volume", vol)
		}
		return t, DeniedNoLocks, false
	}
	t.vol, t.up = vol, up
	t.c = client{name: l.CallerName, addr: from.Addr().String()}
	t.own = owner{c: t.c, svid: l.Svid, oh: string(l.OH)}
	t.upOwn = s.owners.acquire(t.own) // the caller calls s.done(&t)
	t.lock = Lock{
		CallerName: s.opts.Name, FH: ufh, OH: t.upOwn.oh, Svid: t.upOwn.svid,
		Offset: l.Offset, Len: l.Len,
	}
	return t, 0, true
}

// done ends a request begun with a successful translate: the owner's
// mapping is dropped if nothing of it is held or waiting upstream.
func (s *Server) done(t *target) {
	s.owners.release(t.own)
	s.pruneOwner(t.own)
}

// pruneOwner forgets o's mapping when no file it locked is still noted as
// held and no blocked request of it waits. Server.mu is held across the
// check and the drop, so a grant noted meanwhile is not missed (noteHeld
// and addBlocked take it too); a request in flight keeps the mapping
// (refs).
func (s *Server) pruneOwner(o owner) {
	u, ok := s.owners.lookup(o)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.held[o.c] {
		if k.svid == u.svid {
			return
		}
	}
	for k := range s.blocked {
		if k.own == o {
			return
		}
	}
	s.owners.dropIdle(o)
}

// call makes one upstream call bounded by CallTimeout; a failure is
// logged and answered denied_nolocks (the client's ENOLCK).
func (s *Server) call(t *target, proc uint32, args xdr.Encoder, res xdr.Decoder) (ok bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallTimeout)
	defer cancel()
	err := t.up.Call(ctx, proc, args, res)
	if errors.Is(err, ErrConnection) {
		// Once more on a new connection: the upstream may have closed an
		// idle one. Every NLM call may be repeated: the same owner's LOCK
		// again is granted again, UNLOCK and CANCEL of nothing succeed.
		err = t.up.Call(ctx, proc, args, res)
	}
	if err != nil {
		s.stats.upstreamErrors.Add(1)
		s.log.Warn("nlm: upstream call failed", "volume", t.vol, "proc", proc, "err", err)
		return false
	}
	return true
}

func (s *Server) test(from netip.AddrPort, a *TestArgs) *TestRes {
	t, stat, ok := s.translate(from, &a.Lock)
	if !ok {
		return &TestRes{Cookie: a.Cookie, Stat: stat}
	}
	defer s.done(&t)
	if s.graceRefuses(&t, false, false) {
		return &TestRes{Cookie: a.Cookie, Stat: DeniedGracePeriod}
	}
	var res TestRes
	if !s.call(&t, ProcTest, &TestArgs{Cookie: a.Cookie, Exclusive: a.Exclusive, Lock: t.lock}, &res) {
		return &TestRes{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	res.Cookie = a.Cookie
	if res.Stat == Denied {
		// A holder that is one of our clients' owners is shown as that
		// client sent it; another host's holder is shown as is. The owner
		// handle tells ours from another host's with the same svid when
		// the upstream returns it (ganesha does; knfsd sends none).
		if o, ok := s.owners.down(res.Holder.Svid); ok {
			if u, ok := s.owners.lookup(o); ok && (len(res.Holder.OH) == 0 || bytes.Equal(res.Holder.OH, u.oh)) {
				res.Holder.Svid, res.Holder.OH = o.svid, []byte(o.oh)
			}
		}
	}
	return &res
}

func (s *Server) lock(from netip.AddrPort, a *LockArgs) *Res {
	t, stat, ok := s.translate(from, &a.Lock)
	if !ok {
		return &Res{Cookie: a.Cookie, Stat: stat}
	}
	defer s.done(&t)
	if s.graceRefuses(&t, true, a.Reclaim) {
		return &Res{Cookie: a.Cookie, Stat: DeniedGracePeriod}
	}
	defer s.endLock(&t)
	if !s.beginLock(&t) {
		return &Res{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	st, ok := s.tryLock(&t, a, a.Block && s.opts.UpstreamBlocking)
	if !ok {
		return &Res{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	switch {
	case st == Granted:
		s.stats.granted.Add(1)
		s.dropBlocked(keyOf(&t, a.Exclusive))
		s.opts.Files.Granted(a.Lock.FH)
	case a.Block && (st == Denied || st == Blocked):
		s.stats.blocked.Add(1)
		s.addBlocked(&t, a)
		st = Blocked
	case st == Denied:
		s.stats.denied.Add(1)
	}
	return &Res{Cookie: a.Cookie, Stat: st}
}

// tryLock sends one LOCK upstream and records a grant. A reclaim after
// our restart goes as an ordinary LOCK: the upstream never lost the lock
// and grants its owner the same lock again; after the upstream's reboot
// it goes as a reclaim (t.reclaim).
func (s *Server) tryLock(t *target, a *LockArgs, block bool) (Stat, bool) {
	var res Res
	up := LockArgs{Cookie: a.Cookie, Block: block, Exclusive: a.Exclusive, Lock: t.lock, Reclaim: t.reclaim, State: a.State}
	if !s.call(t, ProcLock, &up, &res) {
		return 0, false
	}
	if res.Stat == Granted {
		s.noteHeld(t)
	}
	return res.Stat, true
}

func (s *Server) noteHeld(t *target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.held[t.c]
	if m == nil {
		m = make(map[heldKey]struct{})
		s.held[t.c] = m
	}
	m[heldKey{vol: t.vol, svid: t.upOwn.svid, ufh: string(t.lock.FH)}] = struct{}{}
}

// noteUnheld forgets that t's owner locked t's file.
func (s *Server) noteUnheld(t *target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := heldKey{vol: t.vol, svid: t.upOwn.svid, ufh: string(t.lock.FH)}
	if m := s.held[t.c]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(s.held, t.c)
		}
	}
	s.forgetRecoveringLocked(t.c, &k)
}

func (s *Server) unlock(from netip.AddrPort, a *UnlockArgs) *Res {
	t, stat, ok := s.translate(from, &a.Lock)
	if !ok {
		if stat == DeniedNoLocks {
			stat = Granted // nothing can be locked, so nothing is
		}
		return &Res{Cookie: a.Cookie, Stat: stat}
	}
	defer s.done(&t)
	var res Res
	if !s.call(&t, ProcUnlock, &UnlockArgs{Cookie: a.Cookie, Lock: t.lock}, &res) {
		return &Res{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	if res.Stat == Granted && a.Lock.Offset == 0 && a.Lock.Len == 0 {
		s.noteUnheld(&t) // the whole file: nothing of this owner is left on it
		s.persist()
	}
	res.Cookie = a.Cookie
	return &res
}

func (s *Server) cancelLock(from netip.AddrPort, a *CancArgs) *Res {
	t, stat, ok := s.translate(from, &a.Lock)
	if !ok {
		return &Res{Cookie: a.Cookie, Stat: stat}
	}
	defer s.done(&t)
	s.dropBlocked(keyOf(&t, a.Exclusive))
	if !s.opts.UpstreamBlocking {
		return &Res{Cookie: a.Cookie, Stat: Granted}
	}
	var res Res
	if !s.call(&t, ProcCancel, &CancArgs{Cookie: a.Cookie, Block: a.Block, Exclusive: a.Exclusive, Lock: t.lock}, &res) {
		return &Res{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	res.Cookie = a.Cookie
	return &res
}

// granted handles the upstream's GRANTED callback for a lock it queued:
// the blocked lock it names is granted to its client. up is that lock's
// upstream (nil when none matched).
func (s *Server) granted(a *TestArgs) (res *Res, up Upstream) {
	o, ok := s.owners.down(a.Lock.Svid)
	if !ok {
		return &Res{Cookie: a.Cookie, Stat: Denied}, nil
	}
	s.mu.Lock()
	var b *blockedLock
	for k, v := range s.blocked {
		if k.own == o && k.ufh == string(a.Lock.FH) && k.offset == a.Lock.Offset && k.len == a.Lock.Len {
			b = v
			break
		}
	}
	s.mu.Unlock()
	if b == nil {
		return &Res{Cookie: a.Cookie, Stat: Denied}, nil
	}
	s.noteHeld(&b.t)
	b.grant()
	return &Res{Cookie: a.Cookie, Stat: Granted}, b.t.up
}

// sender is an Upstream that can make one-way calls (*Client).
type sender interface {
	Send(ctx context.Context, proc uint32, args xdr.Encoder) error
}

// grantedMsg handles GRANTED_MSG, the asynchronous form: the answer goes
// back to the upstream as a GRANTED_RES call.
func (s *Server) grantedMsg(a *TestArgs) {
	res, up := s.granted(a)
	sd, ok := up.(sender)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallTimeout)
	defer cancel()
	if err := sd.Send(ctx, ProcGrantedRes, res); err != nil {
		s.log.Warn("nlm: GRANTED_RES to the upstream failed", "err", err)
	}
}

// freeAll releases upstream every lock of the clients for which match is
// true (clients that rebooted), and forgets their owners.
func (s *Server) freeAll(match func(client) bool) {
	for _, c := range s.owners.clientsWhere(match) {
		s.stats.freed.Add(1)
		s.mu.Lock()
		held := s.held[c]
		delete(s.held, c)
		s.forgetRecoveringLocked(c, nil)
		var drop []*blockedLock
		for k, b := range s.blocked {
			if k.own.c == c {
				drop = append(drop, b)
				delete(s.blocked, k)
			}
		}
		s.mu.Unlock()
		for _, b := range drop {
			b.stop()
		}
		for k := range held {
			s.unlockHeld(k)
		}
		s.owners.forget(c)
	}
	s.persist()
}

// portmapCallback sends GRANTED to the client's NLM, found through its
// portmapper.
func (s *Server) portmapCallback(ctx context.Context, ip string, a *TestArgs) (Stat, error) {
	pm := net.JoinHostPort(ip, strconv.Itoa(s.opts.ClientPortmapPort))
	port, err := GetPort(ctx, pm, Program, Version4)
	if err != nil {
		return 0, err
	}
	if port == 0 {
		return 0, errors.New("nlm: client has no NLM v4 on TCP registered")
	}
	c := NewClient(net.JoinHostPort(ip, strconv.Itoa(int(port))), Program, Version4, s.opts.Name)
	defer c.Close()
	var res Res
	if err := c.Call(ctx, ProcGranted, a, &res); err != nil {
		return 0, fmt.Errorf("nlm: GRANTED to %s: %w", ip, err)
	}
	return res.Stat, nil
}
