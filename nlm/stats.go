package nlm

import "sync/atomic"

type counters struct {
	calls, garbage            atomic.Int64
	granted, denied, blocked  atomic.Int64
	upstreamErrors, nolocks   atomic.Int64
	callbacks, callbackFailed atomic.Int64
	freed                     atomic.Int64
}

// Stats is a snapshot of the server's counters and state.
type Stats struct {
	Calls          int64 // calls decoded
	Garbage        int64 // GARBAGE_ARGS replies and dropped messages
	Granted        int64 // LOCKs granted at once
	Denied         int64 // LOCKs denied (non-blocking, in conflict)
	Blocked        int64 // LOCKs answered blocked (then retried)
	UpstreamErrors int64 // upstream calls that failed or timed out
	NoLocks        int64 // requests for volumes whose upstream has no NLM
	Callbacks      int64 // GRANTED callbacks sent to clients
	CallbackFailed int64 // of which failed or refused (the lock was released)
	Freed          int64 // clients whose locks FREE_ALL or SM_NOTIFY released
	Waiting        int   // blocked requests being retried now
	Owners         int   // client owners mapped to upstream owners
}

// Stats returns a snapshot.
func (s *Server) Stats() Stats {
	st := Stats{
		Calls: s.stats.calls.Load(), Garbage: s.stats.garbage.Load(),
		Granted: s.stats.granted.Load(), Denied: s.stats.denied.Load(), Blocked: s.stats.blocked.Load(),
		UpstreamErrors: s.stats.upstreamErrors.Load(), NoLocks: s.stats.nolocks.Load(),
		Callbacks: s.stats.callbacks.Load(), CallbackFailed: s.stats.callbackFailed.Load(),
		Freed: s.stats.freed.Load(),
	}
	s.mu.Lock()
	st.Waiting = len(s.blocked)
	s.mu.Unlock()
	s.owners.mu.Lock()
	st.Owners = len(s.owners.byOwn)
	s.owners.mu.Unlock()
	return st
}
