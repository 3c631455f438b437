package nlm

import (
	"math"
	"net/netip"
)

// SHARE and UNSHARE (DOS share reservations, XNFS 10.2) are forwarded
// like locks: the client's owner handle is mapped to an upstream owner
// of its own (an owner with svid shareSvid, apart from the client's lock
// owners), the share is noted held on its file (for FREE_ALL, SM_NOTIFY,
// the state file and grace), and releasing it sends UNSHARE.

// shareSvid is the svid of the owner a client's shares are mapped under:
// shares have no svid, and this one no Linux or BSD process has.
const shareSvid = math.MinInt32

// shareLock is the Lock translate maps a share's client, file and owner
// from.
func shareLock(sh *Share) Lock {
	return Lock{CallerName: sh.CallerName, FH: sh.FH, OH: sh.OH, Svid: shareSvid}
}

func (s *Server) share(from netip.AddrPort, a *ShareArgs) *ShareRes {
	l := shareLock(&a.Share)
	t, stat, ok := s.translate(from, &l)
	if !ok {
		return &ShareRes{Cookie: a.Cookie, Stat: stat}
	}
	defer s.done(&t)
	if s.graceRefuses(&t, true, a.Reclaim) {
		return &ShareRes{Cookie: a.Cookie, Stat: DeniedGracePeriod}
	}
	defer s.endLock(&t)
	if !s.beginLock(&t) {
		return &ShareRes{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	var res ShareRes
	up := ShareArgs{Cookie: a.Cookie, Reclaim: t.reclaim, Share: Share{
		CallerName: s.opts.Name, FH: t.lock.FH, OH: t.upOwn.oh, Mode: a.Share.Mode, Access: a.Share.Access,
	}}
	if !s.call(&t, ProcShare, &up, &res) {
		return &ShareRes{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	if res.Stat == Granted {
		s.noteHeld(&t)
	}
	res.Cookie = a.Cookie
	return &res
}

func (s *Server) unshare(from netip.AddrPort, a *ShareArgs) *ShareRes {
	l := shareLock(&a.Share)
	t, stat, ok := s.translate(from, &l)
	if !ok {
		if stat == DeniedNoLocks {
			stat = Granted // nothing can be shared, so nothing is
		}
		return &ShareRes{Cookie: a.Cookie, Stat: stat}
	}
	defer s.done(&t)
	var res ShareRes
	up := ShareArgs{Cookie: a.Cookie, Share: Share{
		CallerName: s.opts.Name, FH: t.lock.FH, OH: t.upOwn.oh, Mode: a.Share.Mode, Access: a.Share.Access,
	}}
	if !s.call(&t, ProcUnshare, &up, &res) {
		return &ShareRes{Cookie: a.Cookie, Stat: DeniedNoLocks}
	}
	if res.Stat == Granted {
		s.noteUnheld(&t)
		s.persist()
	}
	res.Cookie = a.Cookie
	return &res
}
