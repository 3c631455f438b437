package nlm

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Restarts. The upstream holds our clients' locks under our caller_name
// and upstream svids, and we never tell it that we restarted: its locks
// stay held while the proxy is down, so no other host can take them. The
// state file (Options.StateFile) lists them with the client owner each
// belongs to. On start the server loads it, maps each owner to the same
// upstream svid again, and, when it lists any lock, enters a grace period
// (Options.GracePeriod) and sends SM_NOTIFY to every client host in it.
// During grace a LOCK with reclaim set is forwarded (as an ordinary
// LOCK: the upstream grants the same owner the lock it holds again) and
// marks the file reclaimed; every other LOCK and TEST is answered
// denied_grace_period. When grace ends, every listed lock that no client
// reclaimed is released upstream (a whole-file UNLOCK by its owner).
//
// An upstream's reboot (upstreamRebooted) uses the same grace: the
// files we hold there become not yet reclaimed, their clients are told
// to reclaim, and their reclaims go upstream as reclaims.
//
// A record is per owner and file, not per range: a client's first
// reclaim on a file marks it reclaimed, so ranges of it the client does
// not reclaim stay held until the owner unlocks the whole file or is
// freed.
//
// Write-ahead: a LOCK's file and owner are written to the state file
// before the LOCK goes upstream (when that fails the LOCK is answered
// denied_nolocks), so a crash at any point leaves the upstream holding
// nothing the next run does not know about; a listed file that was never
// locked costs an UNLOCK of nothing.

// intentKey is a LOCK on its way upstream: its client and its file.
type intentKey struct {
	c client
	k heldKey
}

// recovery is the restart state of a Server. Its maps and flags are
// guarded by Server.mu.
type recovery struct {
	store    *stateStore // nil: no state file
	nsmState int32       // announced in this run's SM_NOTIFY

	intents    map[intentKey]int               // LOCKs in flight upstream
	recovering map[client]map[heldKey]struct{} // loaded, not yet reclaimed
	grace      bool                            // reclaims are served
	graceAll   bool                            // after our restart: every volume is in grace
	relay      map[uint16]bool                 // volumes whose upstream rebooted: in grace
	graceUntil time.Time
	timer      bool // runGrace runs
	ending     bool // grace is ending: nothing is served
}

// stateStore writes the state file.
type stateStore struct {
	fsys stateFS
	path string

	// mu serializes writes; last is the content last written.
	mu   sync.Mutex
	last []byte
}

// recoverState loads the state file, announces the new NSM state and, if
// the previous run left locks, starts the grace period and the SM_NOTIFY
// senders. A corrupt file is logged and the server starts with no state;
// a file that cannot be read or written fails New.
func (s *Server) recoverState() error {
	s.rec.intents = make(map[intentKey]int)
	s.rec.recovering = make(map[client]map[heldKey]struct{})
	s.rec.relay = make(map[uint16]bool)
	if s.opts.StateFile == "" {
		s.rec.nsmState = 1
		return nil
	}
	st := &stateStore{fsys: s.opts.stateFS, path: s.opts.StateFile}
	if st.fsys == nil {
		st.fsys = osFS{}
	}
	st.fsys.RemoveTemps(st.path)
	p, err := loadState(st.fsys, st.path)
	switch {
	case errors.Is(err, ErrStateCorrupt):
		s.stats.stateErrors.Add(1)
		s.log.Error("nlm: the lock state file is unreadable: starting without it; locks the previous run held upstream stay held until their clients' hosts reboot or the upstream's statd frees them",
			"path", st.path, "err", err)
		p = nil
	case err != nil:
		return err
	}
	if p == nil {
		p = &persisted{}
	}
	if p.Name != "" && p.Name != s.opts.Name && len(p.Locks) > 0 {
		s.stats.stateErrors.Add(1)
		s.log.Error("nlm: the lock state file was written under another name: its locks cannot be reclaimed (the upstream holds them for that name)",
			"path", st.path, "state_name", p.Name, "name", s.opts.Name, "locks", len(p.Locks))
		p.Locks = nil
	}
	// NSM states are odd while the host is up and grow with each restart.
	s.rec.nsmState = p.NSMState + 1
	if s.rec.nsmState%2 == 0 {
		s.rec.nsmState++
	}
	if s.rec.nsmState <= 0 {
		s.rec.nsmState = 1
	}
	s.rec.store = st
	hosts := s.loadLocks(p.Locks)
	if err := s.persist(); err != nil {
		return err
	}
	if len(hosts) == 0 {
		return nil
	}
	s.log.Info("nlm: restarted with locks held upstream: grace period, clients told to reclaim",
		"locks", len(p.Locks), "clients", len(hosts), "grace", s.opts.GracePeriod, "nsm_state", s.rec.nsmState)
	s.mu.Lock()
	s.rec.graceAll = true
	s.startGraceLocked()
	s.wg.Add(len(hosts))
	state := s.rec.nsmState
	s.mu.Unlock()
	for _, ip := range hosts {
		go s.runNotify(ip, state)
	}
	return nil
}

// loadLocks maps the loaded locks' owners to their upstream svids again
// and notes them held and not yet reclaimed. It returns the client
// addresses to notify.
func (s *Server) loadLocks(locks []persistedLock) []string {
	m := s.owners
	m.mu.Lock()
	defer m.mu.Unlock()
	var hosts []string
	for _, l := range locks {
		o := owner{c: client{name: l.Client, addr: l.Addr}, svid: l.Svid, oh: string(l.OH)}
		if u, ok := m.byOwn[o]; ok && u.svid != l.UpSvid {
			s.log.Warn("nlm: state file: an owner with two upstream svids: the second is ignored", "client", l.Addr, "svid", l.Svid)
			continue
		}
		if other, ok := m.bySvid[l.UpSvid]; ok && other != o {
			s.log.Warn("nlm: state file: an upstream svid of two owners: the second is ignored", "client", l.Addr, "up_svid", l.UpSvid)
			continue
		}
		u := upOwner{svid: l.UpSvid, oh: []byte(strconv.Itoa(int(l.UpSvid)) + "@" + s.opts.Name)}
		m.byOwn[o], m.bySvid[u.svid] = u, o
		k := heldKey{vol: l.Vol, svid: l.UpSvid, ufh: string(l.UFH)}
		if s.held[o.c] == nil {
			s.held[o.c] = make(map[heldKey]struct{})
		}
		s.held[o.c][k] = struct{}{}
		if s.rec.recovering[o.c] == nil {
			s.rec.recovering[o.c] = make(map[heldKey]struct{})
		}
		s.rec.recovering[o.c][k] = struct{}{}
		if !slices.Contains(hosts, l.Addr) {
			hosts = append(hosts, l.Addr)
		}
	}
	return hosts
}

// snapshotLocked returns what the state file should hold now: every file
// noted held, being locked or waited for, sorted. Server.mu is held.
func (s *Server) snapshotLocked() *persisted {
	p := &persisted{Name: s.opts.Name, NSMState: s.rec.nsmState, Locks: []persistedLock{}}
	seen := make(map[intentKey]bool)
	add := func(c client, k heldKey) {
		if seen[intentKey{c, k}] {
			return
		}
		seen[intentKey{c, k}] = true
		o, ok := s.owners.down(k.svid)
		if !ok || o.c != c {
			return
		}
		p.Locks = append(p.Locks, persistedLock{Client: c.name, Addr: c.addr, Svid: o.svid, OH: []byte(o.oh),
			UpSvid: k.svid, Vol: k.vol, UFH: []byte(k.ufh)})
	}
	for c, m := range s.held {
		for k := range m {
			add(c, k)
		}
	}
	for ik := range s.rec.intents {
		add(ik.c, ik.k)
	}
	for _, b := range s.blocked {
		add(b.t.c, heldKey{vol: b.t.vol, svid: b.t.upOwn.svid, ufh: string(b.t.lock.FH)})
	}
	slices.SortFunc(p.Locks, func(a, b persistedLock) int {
		return cmp.Or(cmp.Compare(a.UpSvid, b.UpSvid), cmp.Compare(a.Vol, b.Vol), bytes.Compare(a.UFH, b.UFH))
	})
	return p
}

// persist writes the state file if what it should hold changed. Calls
// queue on stateStore.mu, and each writes the newest state, so many
// changes share one write.
func (s *Server) persist() error {
	st := s.rec.store
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s.mu.Lock()
	p := s.snapshotLocked()
	s.mu.Unlock()
	b, err := encodeState(p)
	if err == nil && bytes.Equal(b, st.last) {
		return nil
	}
	if err == nil {
		err = st.fsys.WriteAtomic(st.path, b)
	}
	if err != nil {
		s.stats.stateErrors.Add(1)
		s.log.Error("nlm: writing the lock state file failed", "path", st.path, "err", err)
		return err
	}
	st.last = b
	return nil
}

// maxRecorded bounds the files the state file lists (some 250 bytes
// each, and the file is rewritten whole when the set changes): a LOCK of
// a file more is answered denied_nolocks. Options.maxRecorded overrides
// it in tests.
const maxRecorded = 16384

// beginLock writes t's file to the state file before its LOCK goes
// upstream. ok is false when that failed or the state file is full
// (answer denied_nolocks). The caller calls endLock.
func (s *Server) beginLock(t *target) (ok bool) {
	if s.rec.store == nil {
		return true
	}
	ik := intentKey{c: t.c, k: heldKey{vol: t.vol, svid: t.upOwn.svid, ufh: string(t.lock.FH)}}
	s.mu.Lock()
	_, known := s.held[t.c][ik.k]
	if !known && s.rec.intents[ik] == 0 && s.recordedLocked() >= s.opts.maxRecorded {
		s.rec.intents[ik]++ // endLock undoes it
		s.mu.Unlock()
		s.stats.stateErrors.Add(1)
		s.log.Warn("nlm: the lock state file is full: LOCK answered denied_nolocks", "client", t.c.addr, "max", s.opts.maxRecorded)
		return false
	}
	s.rec.intents[ik]++
	s.mu.Unlock()
	return s.persist() == nil
}

// recordedLocked counts the files the state file lists, about: held
// and being locked (blocked requests are mostly among them). Server.mu
// is held.
func (s *Server) recordedLocked() int {
	n := len(s.rec.intents)
	for _, m := range s.held {
		n += len(m)
	}
	return n
}

// endLock ends a LOCK begun with beginLock and writes the state file if
// that changed it (the LOCK was denied).
func (s *Server) endLock(t *target) {
	if s.rec.store == nil {
		return
	}
	ik := intentKey{c: t.c, k: heldKey{vol: t.vol, svid: t.upOwn.svid, ufh: string(t.lock.FH)}}
	s.mu.Lock()
	if s.rec.intents[ik]--; s.rec.intents[ik] <= 0 {
		delete(s.rec.intents, ik)
	}
	s.mu.Unlock()
	s.persist()
}

// graceRefuses reports whether a request must be answered
// denied_grace_period. While a grace period runs, a reclaiming LOCK is
// served (and marks t's file reclaimed, so the end of grace does not
// release it); any other request is refused on a volume in grace (every
// volume after our restart; the rebooted upstream's after its reboot);
// and everything is refused while grace ends. Outside grace a reclaim is
// refused, as lockd does: there is nothing to reclaim. A reclaim on a
// volume whose upstream rebooted is marked to be forwarded as one.
func (s *Server) graceRefuses(t *target, lock, reclaim bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.rec.grace:
		return lock && reclaim
	case s.rec.ending:
		return true
	case !lock || !reclaim:
		return s.rec.graceAll || s.rec.relay[t.vol]
	}
	t.reclaim = s.rec.relay[t.vol]
	if m := s.rec.recovering[t.c]; m != nil {
		k := heldKey{vol: t.vol, svid: t.upOwn.svid, ufh: string(t.lock.FH)}
		if _, ok := m[k]; ok {
			delete(m, k)
			if len(m) == 0 {
				delete(s.rec.recovering, t.c)
			}
			s.stats.reclaimed.Add(1)
		}
	}
	return false
}

// upstreamRebooted handles an SM_NOTIFY from ip: when ip is the address
// of volumes' upstreams (Options.UpstreamIPs), that upstream rebooted and
// lost every lock it held for us. Its volumes enter a grace period: the
// clients holding locks there are sent SM_NOTIFY (our NSM state moves
// on, so they reclaim everything they hold through us), and their
// reclaims are forwarded to it as reclaims, within its own grace. It
// reports whether ip was an upstream's.
func (s *Server) upstreamRebooted(ip string) bool {
	var vols []uint16
	for v, ips := range s.opts.UpstreamIPs {
		if slices.Contains(ips, ip) {
			vols = append(vols, v)
		}
	}
	if len(vols) == 0 {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return true
	}
	var hosts []string
	n := 0
	for c, m := range s.held {
		for k := range m {
			if !slices.Contains(vols, k.vol) {
				continue
			}
			if s.rec.recovering[c] == nil {
				s.rec.recovering[c] = make(map[heldKey]struct{})
			}
			s.rec.recovering[c][k] = struct{}{}
			n++
			if !slices.Contains(hosts, c.addr) {
				hosts = append(hosts, c.addr)
			}
		}
	}
	if n == 0 {
		s.mu.Unlock()
		s.log.Info("nlm: the upstream rebooted (SM_NOTIFY); it held no locks of ours", "upstream", ip, "volumes", vols)
		return true
	}
	for _, v := range vols {
		s.rec.relay[v] = true
	}
	s.rec.nsmState += 2
	state := s.rec.nsmState
	s.startGraceLocked()
	s.wg.Add(len(hosts))
	s.mu.Unlock()
	s.stats.upstreamReboots.Add(1)
	s.log.Warn("nlm: the upstream rebooted (SM_NOTIFY) and lost our locks: clients told to reclaim them",
		"upstream", ip, "volumes", vols, "locks", n, "clients", len(hosts), "nsm_state", state)
	s.persist()
	for _, h := range hosts {
		go s.runNotify(h, state)
	}
	return true
}

// startGraceLocked starts (or extends) the grace period to GracePeriod
// from now, and its timer if none runs. Server.mu is held and the server
// is not closed.
func (s *Server) startGraceLocked() {
	s.rec.grace = true
	s.rec.graceUntil = s.opts.Clock.Now().Add(s.opts.GracePeriod)
	if !s.rec.timer {
		s.rec.timer = true
		s.wg.Add(1)
		go s.runGrace()
	}
}

// forgetRecoveringLocked drops c's (or, with k set, c's k) not-yet-
// reclaimed entry: it was freed or unlocked. Server.mu is held.
func (s *Server) forgetRecoveringLocked(c client, k *heldKey) {
	m := s.rec.recovering[c]
	if m == nil {
		return
	}
	if k != nil {
		delete(m, *k)
	}
	if k == nil || len(m) == 0 {
		delete(s.rec.recovering, c)
	}
}

// InGrace reports whether the server is in its grace period.
func (s *Server) InGrace() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.grace
}

// runGrace ends the grace period at graceUntil (which an upstream's
// reboot may move on meanwhile).
func (s *Server) runGrace() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		d := s.rec.graceUntil.Sub(s.opts.Clock.Now())
		s.mu.Unlock()
		if d <= 0 {
			break
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.opts.Clock.After(d):
		}
	}
	s.endGrace()
}

// endGrace releases upstream every loaded lock no client reclaimed, then
// serves as usual. While it releases, every request is answered
// denied_grace_period, so no new grant is undone by a release.
func (s *Server) endGrace() {
	s.mu.Lock()
	s.rec.ending = true
	left := s.rec.recovering
	s.rec.recovering = make(map[client]map[heldKey]struct{})
	s.mu.Unlock()
	released := 0
	for c, m := range left {
		for k := range m {
			s.mu.Lock()
			_, still := s.held[c][k]
			s.mu.Unlock()
			if !still {
				continue
			}
			s.unlockHeld(k)
			t := target{c: c, vol: k.vol, upOwn: upOwner{svid: k.svid}, lock: Lock{FH: []byte(k.ufh)}}
			s.noteUnheld(&t)
			if o, ok := s.owners.down(k.svid); ok {
				s.pruneOwner(o)
			}
			released++
			s.stats.graceReleased.Add(1)
		}
	}
	s.mu.Lock()
	s.rec.grace, s.rec.graceAll, s.rec.ending, s.rec.timer = false, false, false, false
	clear(s.rec.relay)
	s.mu.Unlock()
	s.persist()
	s.log.Info("nlm: grace period over", "released_unreclaimed", released)
}

// unlockHeld releases upstream everything upstream owner k.svid holds on
// k's file (a whole-file UNLOCK).
func (s *Server) unlockHeld(k heldKey) {
	up := s.opts.Upstreams[k.vol]
	if up == nil {
		return
	}
	t := target{vol: k.vol, up: up, lock: Lock{
		CallerName: s.opts.Name, FH: []byte(k.ufh), Svid: k.svid,
		OH: []byte(strconv.Itoa(int(k.svid)) + "@" + s.opts.Name),
	}}
	var res Res
	s.call(&t, ProcUnlock, &UnlockArgs{Lock: t.lock}, &res)
}

// runNotify tells the client host at ip that we restarted (SM_NOTIFY to
// its statd), so it reclaims its locks; it retries every PollInterval
// until the host answers or grace ends.
func (s *Server) runNotify(ip string, state int32) {
	defer s.wg.Done()
	a := &NotifyArgs{Name: s.opts.Name, State: state}
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallTimeout)
		err := s.opts.Notify(ctx, ip, a)
		cancel()
		if err == nil {
			s.stats.notified.Add(1)
			s.log.Info("nlm: SM_NOTIFY sent", "client", ip, "state", a.State)
			return
		}
		if attempt == 1 {
			s.log.Warn("nlm: SM_NOTIFY failed: retrying until the grace period ends", "client", ip, "err", err)
		}
		if !s.InGrace() {
			s.stats.notifyFailed.Add(1)
			s.log.Warn("nlm: SM_NOTIFY not delivered before the grace period ended: the client's locks were released", "client", ip, "err", err)
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.opts.Clock.After(s.opts.PollInterval):
		}
	}
}

// portmapNotify sends SM_NOTIFY to the statd of the host at ip, found
// through its portmapper (NSM v1 on TCP).
func (s *Server) portmapNotify(ctx context.Context, ip string, a *NotifyArgs) error {
	pm := net.JoinHostPort(ip, strconv.Itoa(s.opts.ClientPortmapPort))
	port, err := GetPort(ctx, pm, ProgramNSM, VersionNSM)
	if err != nil {
		return err
	}
	if port == 0 {
		return errors.New("nlm: client has no NSM v1 on TCP registered")
	}
	c := NewClient(net.JoinHostPort(ip, strconv.Itoa(int(port))), ProgramNSM, VersionNSM, s.opts.Name)
	defer c.Close()
	return c.Call(ctx, ProcSMNotify, a, Void)
}
