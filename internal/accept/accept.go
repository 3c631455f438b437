package accept

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
)

// Backoff bounds for a failing accept.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Retryable reports whether an accept error is one to back off from and
// retry: a timeout or running out of file descriptors.
func Retryable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// Loop accepts connections on l and gives each to handle (which must not
// block for long: it starts the connection's goroutine or closes it). It
// returns nil once ctx is done or closed reports true after an accept
// error (the owner closed l to stop it), and the accept error wrapped with
// name otherwise. clock times the backoff.
func Loop(ctx context.Context, l net.Listener, name string, log *slog.Logger, clock clockwork.Clock, closed func() bool, handle func(net.Conn)) error {
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if closed() || ctx.Err() != nil {
				return nil
			}
			if Retryable(err) {
				backoff = min(max(2*backoff, minBackoff), maxBackoff)
				log.Warn(name+": accept", "err", err, "backoff", backoff)
				select {
				case <-clock.After(backoff):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("%s: accept: %w", name, err)
		}
		backoff = 0
		handle(nc)
	}
}
