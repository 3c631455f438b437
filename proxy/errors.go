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

// upstreamStatus maps a transport failure toward the upstream to the status
// the client sees. This is the one place that decides it: a transient
// failure is JUKEBOX (the client retries after a pause, as it would with a
// hard mount), anything else is IO.
func upstreamStatus(err error) nfs3.Stat {
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
