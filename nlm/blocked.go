package nlm

import (
	"bytes"
	"context"
	"sync"
)

// blockKey identifies one blocked lock request: a client owner asking for
// a range of an upstream file.
type blockKey struct {
	own         owner
	vol         uint16
	ufh         string
	offset, len uint64
	excl        bool
}

func keyOf(t *target, excl bool) blockKey {
	return blockKey{own: t.own, vol: t.vol, ufh: string(t.lock.FH), offset: t.lock.Offset, len: t.lock.Len, excl: excl}
}

// blockedLock is a blocking LOCK the upstream could not grant yet. Its
// goroutine retries it upstream every PollInterval (or waits for the
// upstream's GRANTED), then tells the client with a GRANTED callback.
type blockedLock struct {
	key  blockKey
	t    target
	args LockArgs // the client's request, copied
	ip   string

	once    sync.Once
	grantCh chan struct{} // closed by grant
	stopCh  chan struct{} // closed by stop
	stopped sync.Once
}

func (b *blockedLock) grant() { b.once.Do(func() { close(b.grantCh) }) }
func (b *blockedLock) stop()  { b.stopped.Do(func() { close(b.stopCh) }) }

func cloneLock(l Lock) Lock {
	l.FH = bytes.Clone(l.FH)
	l.OH = bytes.Clone(l.OH)
	return l
}

// addBlocked starts retrying a blocking LOCK unless the same request is
// already waiting.
func (s *Server) addBlocked(t *target, a *LockArgs) {
	k := keyOf(t, a.Exclusive)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.blocked[k] != nil {
		return
	}
	b := &blockedLock{key: k, t: *t, args: *a, ip: t.c.addr, grantCh: make(chan struct{}), stopCh: make(chan struct{})}
	b.args.Cookie = bytes.Clone(a.Cookie)
	b.args.Lock = cloneLock(a.Lock)
	b.t.lock = cloneLock(t.lock)
	s.blocked[k] = b
	s.wg.Add(1)
	go s.runBlocked(b)
}

// dropBlocked stops the blocked request k, if any.
func (s *Server) dropBlocked(k blockKey) {
	s.mu.Lock()
	b := s.blocked[k]
	delete(s.blocked, k)
	s.mu.Unlock()
	if b != nil {
		b.stop()
	}
}

// BlockedCount returns the number of blocked lock requests being retried.
func (s *Server) BlockedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blocked)
}

func (s *Server) runBlocked(b *blockedLock) {
	defer s.wg.Done()
	retry := b.args
	retry.Block = false
	for granted := false; !granted; {
		select {
		case <-s.ctx.Done():
			return
		case <-b.stopCh:
			return
		case <-b.grantCh:
			granted = true
		case <-s.opts.Clock.After(s.opts.PollInterval):
			st, ok := s.tryLock(&b.t, &retry, false)
			granted = ok && st == Granted
		}
	}
	s.mu.Lock()
	current := s.blocked[b.key] == b
	if current {
		delete(s.blocked, b.key)
	}
	s.mu.Unlock()
	if !current {
		// Cancelled (or freed) while the grant was on its way.
		s.release(b)
		return
	}
	s.opts.Files.Granted(b.args.Lock.FH)
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallTimeout)
	defer cancel()
	s.stats.callbacks.Add(1)
	st, err := s.opts.Callback(ctx, b.ip, &TestArgs{Cookie: b.args.Cookie, Exclusive: b.args.Exclusive, Lock: b.args.Lock})
	if err != nil || st != Granted {
		s.stats.callbackFailed.Add(1)
		// The client cannot take the lock: give it back, so nobody else
		// waits on it. The client re-sends its LOCK if it still wants it.
		s.log.Warn("nlm: GRANTED callback refused or failed: lock released", "client", b.ip, "stat", st, "err", err)
		s.release(b)
	}
}

// release unlocks b's range upstream.
func (s *Server) release(b *blockedLock) {
	var res Res
	s.call(&b.t, ProcUnlock, &UnlockArgs{Cookie: b.args.Cookie, Lock: b.t.lock}, &res)
}
