package rpcsrv

import (
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sock is a socket whose Close ends the goroutine serving it.
type sock struct {
	closed atomic.Int32
	done   chan struct{}
}

func newSock() *sock { return &sock{done: make(chan struct{})} }

func (s *sock) Close() error {
	if s.closed.Add(1) == 1 {
		close(s.done)
	}
	return nil
}

// TestGroupLifeCycle: Close closes every socket and connection it holds
// and waits for their goroutines; Stop closes only the listeners; after
// either nothing registers; a refused connection is left to the caller.
func TestGroupLifeCycle(t *testing.T) {
	var g Group
	l := newSock()
	if !g.Enter(l) {
		t.Fatal("Enter before Close: false")
	}
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); <-l.done; g.Leave(l) }()

	c := newSock()
	served := make(chan struct{})
	if !g.Go(c, func(open int) bool { return open == 0 }, func() { close(served); <-c.done }) {
		t.Fatal("Go of the first connection: refused")
	}
	await.Recv(t, "the connection's serve to start", served)
	refused := newSock()
	if g.Go(refused, func(open int) bool { return open == 0 }, func() { t.Error("served a refused connection") }) {
		t.Fatal("Go with admit refusing: true")
	}
	if refused.closed.Load() != 0 {
		t.Fatal("a refused connection was closed by the group; want it left to the caller")
	}
	ran := make(chan struct{})
	if !g.Run(func() { close(ran) }) {
		t.Fatal("Run before Close: false")
	}
	await.Recv(t, "Run's function", ran)

	g.Stop()
	if l.closed.Load() != 1 || c.closed.Load() != 0 || !g.Closed() {
		t.Fatalf("after Stop: listener closed %d, connection closed %d, Closed %v; want 1, 0, true", l.closed.Load(), c.closed.Load(), g.Closed())
	}
	await.Recv(t, "the listener's loop to end", loopDone)
	if g.Enter(newSock()) || g.Go(newSock(), nil, func() {}) || g.Run(func() {}) {
		t.Fatal("registered after Stop")
	}
	g.Close()
	if c.closed.Load() != 1 {
		t.Fatalf("connection closed %d times by Close; want 1", c.closed.Load())
	}
}
