package upstream

import (
	"sync/atomic"
	"time"
)

const numProcs = 22

type counters struct {
	calls      atomic.Int64
	inflight   atomic.Int64
	retries    atomic.Int64
	reconnects atomic.Int64
	poisoned   atomic.Int64
	downs      atomic.Int64 // times the upstream was marked down
	hangs      atomic.Int64 // connections broken by the hang watchdog
	isDown     atomic.Bool
	errors     atomic.Int64
	procCalls  [numProcs]atomic.Int64
	procNanos  [numProcs]atomic.Int64
	readBytes  atomic.Int64
	writeBytes atomic.Int64
}

func (s *counters) observe(proc uint32, d time.Duration, err error) {
	if err != nil {
		s.errors.Add(1)
	}
	if proc < numProcs {
		s.procCalls[proc].Add(1)
		s.procNanos[proc].Add(int64(d))
	}
}

// Stats is a snapshot of a Client's counters.
type Stats struct {
	Calls      int64
	InFlight   int64
	Retries    int64
	Reconnects int64
	// Abandoned counts calls failed rather than sent a third time because
	// their connection died twice while they were in flight.
	Abandoned int64
	// Up is false from a failed dial, a lost connection or a hang until
	// the next reply; Downs counts those changes, Hangs the connections
	// the watchdog broke.
	Up     bool
	Downs  int64
	Hangs  int64
	Errors int64
	// ProcCalls and ProcNanos are indexed by NFSv3 procedure number.
	ProcCalls [numProcs]int64
	ProcNanos [numProcs]int64
	// ReadBytes and WriteBytes count READ and WRITE payload bytes.
	ReadBytes  int64
	WriteBytes int64
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := Stats{
		Calls:      c.stats.calls.Load(),
		InFlight:   c.stats.inflight.Load(),
		Retries:    c.stats.retries.Load(),
		Reconnects: c.stats.reconnects.Load(),
		Abandoned:  c.stats.poisoned.Load(),
		Up:         !c.stats.isDown.Load(),
		Downs:      c.stats.downs.Load(),
		Hangs:      c.stats.hangs.Load(),
		Errors:     c.stats.errors.Load(),
		ReadBytes:  c.stats.readBytes.Load(),
		WriteBytes: c.stats.writeBytes.Load(),
	}
	for i := range s.ProcCalls {
		s.ProcCalls[i] = c.stats.procCalls[i].Load()
		s.ProcNanos[i] = c.stats.procNanos[i].Load()
	}
	return s
}
