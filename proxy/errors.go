package proxy

import (
	"context"
	"errors"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// Sentinel errors.
var (
	errGarbage = errors.New("proxy: garbage arguments")
	ErrClosed  = errors.New("proxy: server closed")
)

// upstreamStatus maps a transport failure toward v's upstream to the status
// the client sees. This is the one place that decides it (with
// upstreamDown, for a request that gives up without calling): a transient
// failure is JUKEBOX (the client retries after a pause, as it would with a
// hard mount), or IO on a soft volume; anything else is IO.
func (v *volume) upstreamStatus(err error) nfs3.Stat {
	st := classifyUpstream(err)
	if v.Failure.Soft && st == nfs3.StatJukebox {
		st = nfs3.StatIO
	}
	return st
}

// upstreamDown is the status for a request abandoned because the upstream
// just failed to answer another call of it, or holds all its slots.
func upstreamDown(v *volume) nfs3.Stat {
	if v.Failure.Soft {
		return nfs3.StatIO
	}
	return nfs3.StatJukebox
}

// classifyUpstream is upstreamStatus before the volume's failure policy.
func classifyUpstream(err error) nfs3.Stat {
	var st nfs3.Stat
	if errors.As(err, &st) {
		return st
	}
	if errors.Is(err, context.Canceled) {
		return nfs3.StatJukebox
	}
	switch upstream.Classify(err) {
	case upstream.Retry:
		return nfs3.StatJukebox
	case upstream.Stale:
		return nfs3.StatStale
	}
	return nfs3.StatIO
}
