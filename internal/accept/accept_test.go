package accept

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scriptedListener returns the errors in errs, one per Accept, then a
// connection, then errClosed forever.
type scriptedListener struct {
	net.Listener
	errs  []error
	conn  net.Conn
	calls atomic.Int32
}

var errClosed = errors.New("use of closed listener")

func (l *scriptedListener) Accept() (net.Conn, error) {
	i := int(l.calls.Add(1)) - 1
	switch {
	case i < len(l.errs):
		return nil, l.errs[i]
	case i == len(l.errs):
		return l.conn, nil
	}
	return nil, errClosed
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestLoopBacksOffOnDescriptorExhaustion: EMFILE, ENFILE and timeouts are
// waited out with a growing backoff on the given clock and accepting goes
// on; the next connection is handed over; a closed listener ends the loop
// with nil; any other error ends it with that error.
func TestLoopBacksOffOnDescriptorExhaustion(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	l := &scriptedListener{errs: []error{
		fmt.Errorf("accept: %w", syscall.EMFILE),
		fmt.Errorf("accept: %w", syscall.ENFILE),
		timeoutErr{},
	}, conn: c1}
	clock := clockwork.NewFakeClock()
	var closed atomic.Bool
	var got []net.Conn
	done := make(chan error, 1)
	go func() {
		done <- Loop(context.Background(), l, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), clock, closed.Load, func(nc net.Conn) {
			got = append(got, nc)
			closed.Store(true) // the owner closes the listener after this one
		})
	}()
	for i, want := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		if err := clock.BlockUntilContext(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if n := l.calls.Load(); n != int32(i+1) {
			t.Fatalf("backoff %d: %d accepts so far; want %d", i, n, i+1)
		}
		clock.Advance(want - time.Nanosecond)
		if n := l.calls.Load(); n != int32(i+1) {
			t.Fatalf("accepted again before backoff %d (%v) ran out", i, want)
		}
		clock.Advance(time.Nanosecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("Loop after its listener closed = %v; want nil", err)
	}
	if len(got) != 1 || got[0] != c1 {
		t.Fatalf("handled %v; want the one connection", got)
	}

	fatal := errors.New("listener broken")
	l2 := &scriptedListener{errs: []error{fatal}}
	err := Loop(context.Background(), l2, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), clock, func() bool { return false }, func(net.Conn) {})
	if !errors.Is(err, fatal) {
		t.Fatalf("Loop on a broken listener = %v; want %v wrapped", err, fatal)
	}
}

// TestLoopStopsDuringBackoff: cancelling the context ends a backoff at once.
func TestLoopStopsDuringBackoff(t *testing.T) {
	l := &scriptedListener{errs: []error{syscall.EMFILE}}
	clock := clockwork.NewFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Loop(ctx, l, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), clock, func() bool { return false }, func(net.Conn) {})
	}()
	if err := clock.BlockUntilContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Loop cancelled in a backoff = %v; want nil", err)
	}
}
