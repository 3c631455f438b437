package nlm

import "sync/atomic"

type counters struct {
	calls, garbage            atomic.Int64
	granted, denied, blocked  atomic.Int64
	upstreamErrors, nolocks   atomic.Int64
	callbacks, callbackFailed atomic.Int64
	freed                     atomic.Int64
	reclaimed, graceReleased  atomic.Int64
	stateErrors               atomic.Int64
	notified, notifyFailed    atomic.Int64
	upstreamReboots           atomic.Int64
}

// Stats is a snapshot of the server's counters and state.
type Stats struct {
	Calls           int64 // calls decoded
	Garbage         int64 // GARBAGE_ARGS replies and dropped messages
	Granted         int64 // LOCKs granted at once
	Denied          int64 // LOCKs denied (non-blocking, in conflict)
	Blocked         int64 // LOCKs answered blocked (then retried)
	UpstreamErrors  int64 // upstream calls that failed or timed out
	NoLocks         int64 // requests for volumes whose upstream has no NLM
	Callbacks       int64 // GRANTED callbacks sent to clients
	CallbackFailed  int64 // of which failed or refused (the lock was released)
	Freed           int64 // clients whose locks FREE_ALL or SM_NOTIFY released
	Waiting         int   // blocked requests being retried now
	Owners          int   // client owners mapped to upstream owners
	Held            int   // files locked upstream by a client owner
	Grace           bool  // in the grace period after a restart
	Reclaimed       int64 // files reclaimed during grace
	GraceReleased   int64 // files released at the end of grace, not reclaimed
	StateErrors     int64 // state file reads and writes that failed
	Notified        int64 // SM_NOTIFY calls clients answered after a restart
	NotifyFailed    int64 // clients not reached before the grace period ended
	UpstreamReboots int64 // SM_NOTIFY from an upstream relayed to the clients
}

// Stats returns a snapshot.
func (s *Server) Stats() Stats {
	st := Stats{
		Calls: s.stats.calls.Load(), Garbage: s.stats.garbage.Load(),
		Granted: s.stats.granted.Load(), Denied: s.stats.denied.Load(), Blocked: s.stats.blocked.Load(),
		UpstreamErrors: s.stats.upstreamErrors.Load(), NoLocks: s.stats.nolocks.Load(),
		Callbacks: s.stats.callbacks.Load(), CallbackFailed: s.stats.callbackFailed.Load(),
		Freed:     s.stats.freed.Load(),
		Reclaimed: s.stats.reclaimed.Load(), GraceReleased: s.stats.graceReleased.Load(),
		StateErrors: s.stats.stateErrors.Load(),
		Notified:    s.stats.notified.Load(), NotifyFailed: s.stats.notifyFailed.Load(),
		UpstreamReboots: s.stats.upstreamReboots.Load(),
	}
	s.mu.Lock()
	st.Waiting = len(s.blocked)
	for _, m := range s.held {
		st.Held += len(m)
	}
	st.Grace = s.rec.grace
	s.mu.Unlock()
	s.owners.mu.Lock()
	st.Owners = len(s.owners.byOwn)
	s.owners.mu.Unlock()
	return st
}
