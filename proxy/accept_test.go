package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// timeoutError is the temporary error an exhausted accept queue or a
// full descriptor table gives.
type timeoutError struct{}

func (timeoutError) Error() string   { return "accept: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// failingListener fails its first errs Accepts with a timeout, then blocks
// until closed. Each Accept call is reported on calls.
type failingListener struct {
	errs   int
	calls  chan int
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	n      int
}

func newFailingListener(errs int) *failingListener {
	return &failingListener{errs: errs, calls: make(chan int, 100), closed: make(chan struct{})}
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.n++
	n := l.n
	l.mu.Unlock()
	l.calls <- n
	if n <= l.errs {
		return nil, timeoutError{}
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *failingListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptBackoff: after a temporary accept error the server waits
// 5ms, doubling per further error, by its clock, before accepting again;
// Close ends the wait at once. The clock is fake: the test advances it.
func TestAcceptBackoff(t *testing.T) {
	up := &fakeUpstream{root: nfs3.FH{1}}
	tests := []struct {
		name  string
		waits []time.Duration // the backoff before each Accept after the first
		close bool            // Close during the last wait instead of ending it
	}{
		{"backoff doubles", []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}, false},
		{"close ends the wait", []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			s, err := New(Options{Clock: clock, Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
			if err != nil {
				t.Fatal(err)
			}
			l := newFailingListener(len(tt.waits))
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			defer s.Close()
			await.Recv(t, "the first Accept", l.calls)
			for i, d := range tt.waits {
				if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
					t.Fatalf("wait %d: the server never waited on its clock: %v", i+1, err)
				}
				if tt.close && i == len(tt.waits)-1 {
					s.Close()
					break
				}
				// The server is blocked on its clock: nothing else can wake it.
				clock.Advance(d - time.Microsecond)
				select {
				case n := <-l.calls:
					t.Fatalf("Accept %d came %v into a wait of %v; want the whole wait", n, d-time.Microsecond, d)
				default:
				}
				clock.Advance(time.Microsecond)
				if got := await.Recv(t, "the next Accept", l.calls); got != i+2 {
					t.Fatalf("got Accept %d; want %d", got, i+2)
				}
			}
			if !tt.close {
				s.Close()
			}
			if err := await.Recv(t, "Serve to return", served); !errors.Is(err, ErrClosed) {
				t.Errorf("Serve: got %v; want ErrClosed", err)
			}
		})
	}
}

// TestShutdown: Shutdown stops accepting, waits for the requests in flight
// and their replies, then closes; if its context ends first, it closes
// at once, cancelling what runs.
func TestShutdown(t *testing.T) {
	tests := []struct {
		name    string
		expired bool // Shutdown's context has ended before it is called
		want    error
	}{
		{"waits for the request in flight", false, nil},
		{"context ends first", true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := make(chan struct{}, 1)
			release := make(chan struct{})
			up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
				if proc == nfs3.ProcRead {
					held <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}}
			s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up}}})
			c := dialRaw(t, addr)
			c.sendRecord(callBody(1, nfs3.Program, 3, nfs3.ProcRead, &testCred, &nfs3.ReadArgs{File: appendHandle(nil, 1, up.root), Count: 10}))
			await.Recv(t, "the READ to reach the upstream", held)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.expired {
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(ctx) }()
			if tt.expired {
				if err := await.Recv(t, "Shutdown to return", done); !errors.Is(err, tt.want) {
					t.Fatalf("Shutdown: got %v; want %v", err, tt.want)
				}
				if n := s.Stats().InFlight; n != 0 {
					t.Fatalf("InFlight after Shutdown = %d; want 0 (the held READ cancelled)", n)
				}
				return
			}
			await.Until(t, "the listener to close", func() bool {
				nc, err := net.Dial("tcp", addr)
				if err == nil {
					nc.Close()
				}
				return err != nil
			})
			// The READ is held in the upstream: nothing can end Shutdown yet.
			select {
			case err := <-done:
				t.Fatalf("Shutdown returned %v with a request in flight; want it to wait", err)
			default:
			}
			close(release)
			if xid, _, err := replyHead(t, c.readReply()); err != nil || xid != 1 {
				t.Fatalf("reply to the READ in flight: xid %d err %v; want 1 success", xid, err)
			}
			if err := await.Recv(t, "Shutdown to return", done); !errors.Is(err, tt.want) {
				t.Fatalf("Shutdown: got %v; want %v", err, tt.want)
			}
		})
	}
}
