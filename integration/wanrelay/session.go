package wanrelay

import (
	"log/slog"
	"net"
	"sync"
)

// session is one relayed connection pair. Its serve goroutine (Relay.serve)
// owns it and, through run, its four pipe goroutines.
type session struct {
	r      *Relay
	log    *slog.Logger
	client *net.TCPConn
	up     *queue // client → target
	down   *queue // target → client

	// done is closed by abort; writers sleeping on a due time watch it.
	done      chan struct{}
	abortOnce sync.Once

	// mu guards target and aborted: Close may abort a session whose target
	// is still being dialled.
	mu      sync.Mutex
	target  *net.TCPConn
	aborted bool
}

func newSession(r *Relay, c *net.TCPConn) *session {
	return &session{
		r:      r,
		log:    r.log.With("client", c.RemoteAddr().String()),
		client: c,
		up:     newQueue(r.opts.MaxBuffered, &r.buffered),
		down:   newQueue(r.opts.MaxBuffered, &r.buffered),
		done:   make(chan struct{}),
	}
}

// attach records the dialled target connection. If the session was aborted
// meanwhile it closes t and reports false.
func (s *session) attach(t *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aborted {
		t.Close()
		return false
	}
	s.target = t
	return true
}

// run relays both directions and returns when all four pipe goroutines have
// exited: both ends of stream delivered, or the session aborted.
func (s *session) run() {
	pipes := []*pipe{
		{s: s, name: "to_target", src: s.client, dst: s.target, q: s.up, delivered: &s.r.toTarget},
		{s: s, name: "to_client", src: s.target, dst: s.client, q: s.down, delivered: &s.r.toClient},
	}
	var wg sync.WaitGroup
	for _, p := range pipes {
		wg.Add(2)
		go func() {
			defer wg.Done()
			p.readLoop()
		}()
		go func() {
			defer wg.Done()
			p.writeLoop()
		}()
	}
	wg.Wait()
}

// abort tears the session down at once: data in flight is dropped, blocked
// pipe goroutines are woken, and both connections are reset.
func (s *session) abort() {
	s.abortOnce.Do(func() {
		close(s.done)
		s.up.close()
		s.down.close()
		s.mu.Lock()
		s.aborted = true
		t := s.target
		s.mu.Unlock()
		reset(s.client)
		if t != nil {
			reset(t)
		}
	})
}

func (s *session) isAborted() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// closeConns closes both connections; after a clean end both write halves are
// already shut, so this is an orderly close.
func (s *session) closeConns() {
	s.client.Close()
	s.mu.Lock()
	t := s.target
	s.mu.Unlock()
	if t != nil {
		t.Close()
	}
}

// reset closes c so that its peer sees a reset rather than an orderly end.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
