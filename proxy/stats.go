package proxy

import (
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

const numNFSProcs = 22

type serverStats struct {
	connections    atomic.Int64
	inflight       atomic.Int64
	receiving      atomic.Int64 // connections between a record's first mark and its last byte
	garbage        atomic.Int64
	authErrors     atomic.Int64
	badRecords     atomic.Int64
	panics         atomic.Int64
	refused        atomic.Int64
	drcHits        atomic.Int64
	sendfileBytes  atomic.Int64
	staleServed    atomic.Int64
	volumeBusy     atomic.Int64 // requests answered at once: their volume's upstream held its share of slots
	foreignHandles atomic.Int64
	calls          [numNFSProcs]atomic.Int64
	errors         [numNFSProcs]atomic.Int64
	nanos          [numNFSProcs]atomic.Int64
	mountCalls     atomic.Int64
}

func (s *Server) observe(prog, proc uint32, result string, d time.Duration, ok bool) {
	if s.opts.Observer == nil {
		return
	}
	switch {
	case prog == nfsProgram && proc < numNFSProcs:
		s.opts.Observer.ObserveResult("nfs", nfs3.ProcLabel(proc), result, d, ok)
	case prog == mountProgram && proc <= nfs3.MountProcExport:
		s.opts.Observer.ObserveResult("mount", nfs3.MountProcLabel(proc), result, d, ok)
	}
}

// Results of a request, the result label of its latency.
const (
	resultHit  = "hit"  // answered without the upstream: from the caches, or by the proxy itself
	resultMiss = "miss" // a procedure the proxy caches, which needed the upstream
	resultPass = "pass" // a procedure the proxy always forwards: it changes state
)

// resultOf classifies the finished request for its latency histogram.
func (req *request) resultOf() string {
	switch {
	case req.result != "":
		return req.result
	case req.prog == nfsProgram && changesState(req.proc):
		return resultPass
	case req.upstream:
		return resultMiss
	}
	return resultHit
}

// changesState reports whether NFSv3 procedure proc changes the upstream's
// state, and so is always forwarded.
func changesState(proc uint32) bool {
	switch proc {
	case nfs3.ProcSetattr, nfs3.ProcWrite, nfs3.ProcCreate, nfs3.ProcMkdir, nfs3.ProcSymlink, nfs3.ProcMknod,
		nfs3.ProcRemove, nfs3.ProcRmdir, nfs3.ProcRename, nfs3.ProcLink, nfs3.ProcCommit:
		return true
	}
	return false
}

func (s *serverStats) observe(prog, proc uint32, d time.Duration, st nfs3.Stat) {
	if prog != nfsProgram || proc >= numNFSProcs {
		s.mountCalls.Add(1)
		return
	}
	s.calls[proc].Add(1)
	s.nanos[proc].Add(int64(d))
	if st != nfs3.StatOK {
		s.errors[proc].Add(1)
	}
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Connections int64 // open client connections
	// PartialRecordBytes is what records under way hold now, charged
	// to Options.PartialRecordBytes.
	PartialRecordBytes int64
	InFlight           int64 // requests being served
	Garbage            int64 // requests answered GARBAGE_ARGS or dropped unparsed
	AuthErrors         int64 // requests refused with AUTH_ERROR
	BadRecords         int64 // connections closed for an oversized record
	Panics             int64 // handler panics recovered
	Refused            int64 // MNT or NFS calls refused by an export policy
	DRCHits            int64 // retransmissions answered from the duplicate-request cache
	SendfileBytes      int64 // READ payload bytes sent from cache files (sendfile), not copied through memory
	StaleServed        int64 // answers served from caches while the upstream was unreachable (serve-stale)
	VolumeBusy         int64 // requests answered JUKEBOX/IO at once because their volume's upstream held its share of request slots
	ForeignHandles     int64 // handles refused as STALE: their object lies outside the volume's filesystems
	MountCalls         int64
	// Calls, Errors and Nanos are indexed by NFSv3 procedure number;
	// Errors counts replies whose status was not NFS3_OK.
	Calls  [numNFSProcs]int64
	Errors [numNFSProcs]int64
	Nanos  [numNFSProcs]int64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Connections:        s.stats.connections.Load(),
		PartialRecordBytes: s.partial.total.Load(),
		InFlight:           s.stats.inflight.Load(),
		Garbage:            s.stats.garbage.Load(),
		AuthErrors:         s.stats.authErrors.Load(),
		BadRecords:         s.stats.badRecords.Load(),
		Panics:             s.stats.panics.Load(),
		Refused:            s.stats.refused.Load(),
		DRCHits:            s.stats.drcHits.Load(),
		SendfileBytes:      s.stats.sendfileBytes.Load(),
		StaleServed:        s.stats.staleServed.Load(),
		VolumeBusy:         s.stats.volumeBusy.Load(),
		ForeignHandles:     s.stats.foreignHandles.Load(),
		MountCalls:         s.stats.mountCalls.Load(),
	}
	for i := range st.Calls {
		st.Calls[i] = s.stats.calls[i].Load()
		st.Errors[i] = s.stats.errors[i].Load()
		st.Nanos[i] = s.stats.nanos[i].Load()
	}
	return st
}
