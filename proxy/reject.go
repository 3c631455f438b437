package proxy

import (
	"errors"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Rejections: every request refused for a protocol limit or a bad name, and
// every GARBAGE_ARGS, is counted by reason (Server.Rejections, exported as
// nfscacheproxy_rejected_requests_total{reason}) and logged at warn, at most
// once a second per reason, naming the procedure, the client and the limit.
// A line also says how many of the same reason went unlogged before it.

// reason is why a request was rejected.
type reason uint8

const (
	reasonNone             reason = iota
	reasonCallHeader              // the call header did not decode; dropped
	reasonArguments               // the arguments did not decode: GARBAGE_ARGS
	reasonNameEmpty               // an empty name: GARBAGE_ARGS
	reasonNameNUL                 // a name with a NUL byte: GARBAGE_ARGS
	reasonNameSlash               // a name with a "/": GARBAGE_ARGS
	reasonNameTooLong             // a name over 255 bytes: NAMETOOLONG
	reasonNameDot                 // "." or ".." where the procedure forbids them
	reasonTargetTooLong           // a symlink target over 4096 bytes: NAMETOOLONG
	reasonTargetInvalid           // an empty symlink target or one with NUL: INVAL
	reasonMountPathTooLong        // a MNT dirpath over 1024 bytes: MNT3ERR_NAMETOOLONG
	reasonMountPathInvalid        // a MNT dirpath relative, with NUL or "..": MNT3ERR_ACCES
	reasonPartialBudget           // a connection closed to keep partial records within their budget (partial.go)
	numReasons
)

// reasonLabels are the metric label values, indexed by reason.
var reasonLabels = [numReasons]string{
	reasonNone:             "none",
	reasonCallHeader:       "call_header",
	reasonArguments:        "arguments",
	reasonNameEmpty:        "name_empty",
	reasonNameNUL:          "name_nul",
	reasonNameSlash:        "name_slash",
	reasonNameTooLong:      "name_too_long",
	reasonNameDot:          "name_dot",
	reasonTargetTooLong:    "symlink_target_too_long",
	reasonTargetInvalid:    "symlink_target_invalid",
	reasonMountPathTooLong: "mount_path_too_long",
	reasonMountPathInvalid: "mount_path_invalid",
	reasonPartialBudget:    "partial_record_budget",
}

func (r reason) String() string {
	if r < numReasons {
		return reasonLabels[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// rejections counts and rate-limits the logging of rejected requests. Its
// zero value is ready; it is all atomics.
type rejections struct {
	count      [numReasons]atomic.Int64
	lastLog    [numReasons]atomic.Int64 // unix nanoseconds of the last line logged
	suppressed [numReasons]atomic.Int64 // rejections not logged since then
	// now is the clock; nil is time.Now (tests set it).
	now func() time.Time
}

// rejectLogEvery is the least time between two log lines of one reason.
const rejectLogEvery = time.Second

// garbageError is an argument refused with GARBAGE_ARGS for a known reason.
type garbageError struct {
	why   reason
	limit string
	len   int
}

func (e *garbageError) Error() string { return "proxy: garbage arguments: " + e.why.String() }

// Is makes a garbageError an errGarbage, which the dispatcher answers.
func (e *garbageError) Is(target error) bool { return target == errGarbage }

// noteGarbage counts and logs a GARBAGE_ARGS reply: err's reason, or
// reasonArguments for arguments that did not decode.
func (s *Server) noteGarbage(req *request, err error) {
	var ge *garbageError
	if errors.As(err, &ge) {
		s.reject(ge.why, req.prog, req.proc, req.c.remote, "limit", ge.limit, "len", ge.len)
		return
	}
	s.reject(reasonArguments, req.prog, req.proc, req.c.remote)
}

// reject counts a rejected request of proc from client and logs it, unless
// a line for the same reason was logged less than rejectLogEvery ago.
// attrs are extra key-value pairs for the log line.
func (s *Server) reject(why reason, prog, proc uint32, client netip.AddrPort, attrs ...any) {
	rj := &s.rejects
	if why >= numReasons {
		why = reasonArguments
	}
	rj.count[why].Add(1)
	now := time.Now
	if rj.now != nil {
		now = rj.now
	}
	t := now().UnixNano()
	last := rj.lastLog[why].Load()
	if last != 0 && t-last < int64(rejectLogEvery) || !rj.lastLog[why].CompareAndSwap(last, t) {
		rj.suppressed[why].Add(1)
		return
	}
	args := append([]any{"reason", why.String(), "proc", procName(prog, proc), "client", client.String()}, attrs...)
	if n := rj.suppressed[why].Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	s.log.Warn("request rejected", args...)
}

// procName names a procedure of either program for the log.
func procName(prog, proc uint32) string {
	switch prog {
	case nfsProgram:
		return nfs3.ProcName(proc)
	case mountProgram:
		return "MOUNT " + nfs3.MountProcName(proc)
	case 0:
		return "unknown" // the call header did not decode
	}
	return "PROG(" + strconv.FormatUint(uint64(prog), 10) + ") PROC(" + strconv.FormatUint(uint64(proc), 10) + ")"
}

// RejectStats counts rejected requests by reason: protocol limits, bad
// names and GARBAGE_ARGS (see reject.go).
type RejectStats struct {
	// ByReason maps a reason label ("name_slash", "arguments", …) to its
	// count; every reason is present, also at zero.
	ByReason map[string]int64
}

// Rejections returns a snapshot of the rejection counters.
func (s *Server) Rejections() RejectStats {
	st := RejectStats{ByReason: make(map[string]int64, numReasons-1)}
	for r := reasonNone + 1; r < numReasons; r++ {
		st.ByReason[reasonLabels[r]] = s.rejects.count[r].Load()
	}
	return st
}
