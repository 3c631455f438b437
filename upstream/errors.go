package upstream

import (
	"context"
	"errors"
	"net"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// Sentinel errors.
var (
	ErrClosed      = errors.New("upstream: client closed")
	ErrConnLost    = errors.New("upstream: connection lost")
	ErrNotSent     = errors.New("upstream: call not sent")
	ErrBadReply    = errors.New("upstream: malformed reply")
	ErrMountDenied = errors.New("upstream: mount refused")
	// ErrNotMounted: the client started by Start has not mounted its
	// export yet; nothing was sent.
	ErrNotMounted = errors.New("upstream: export not mounted yet")
	// ErrSuspectCall: the connection died twice while the call was in
	// flight, so it is not sent again (it may be what kills the upstream).
	ErrSuspectCall = errors.New("upstream: call abandoned: the connection died twice while it was in flight")
)

// Class says what a caller should do about an upstream failure.
type Class int

// Failure classes.
const (
	Fail  Class = iota // give up: report an error to the client
	Retry              // transient: the same call may succeed later (timeout, lost connection, JUKEBOX)
	Stale              // the handle is gone: drop what is cached for it
)

// Classify maps an error from a call (or an NFS status) to a Class.
func Classify(err error) Class {
	if err == nil || errors.Is(err, ErrSuspectCall) {
		return Fail
	}
	var st nfs3.Stat
	if errors.As(err, &st) {
		switch st {
		case nfs3.StatJukebox:
			return Retry
		case nfs3.StatStale, nfs3.StatBadHandle:
			return Stale
		}
		return Fail
	}
	var ne net.Error
	if errors.Is(err, ErrConnLost) || errors.Is(err, ErrNotSent) || errors.Is(err, ErrUpstreamHung) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return Retry
	}
	var re *rpc.ReplyError
	if errors.As(err, &re) && !re.Denied && re.AcceptStat == rpc.SystemErr {
		return Retry
	}
	return Fail
}
