package wanrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxChunk is the largest single read, and the size of pooled buffers.
	maxChunk = 64 << 10
	// minRateChunk is the smallest read under a rate cap.
	minRateChunk = 4 << 10
	// dialTimeout bounds dialling the target.
	dialTimeout = 10 * time.Second
)

// Stats is a snapshot of a Relay's counters.
type Stats struct {
	Accepted      int64 // connections accepted
	Active        int64 // connections being relayed (including dialling)
	DialErrors    int64 // connections closed because the target could not be dialled
	BytesToTarget int64 // bytes delivered client → target
	BytesToClient int64 // bytes delivered target → client
	Buffered      int64 // bytes read but not yet delivered, all connections and directions
}

// Relay is a running WAN-emulating TCP relay. Create it with Start; stop it
// with Close.
type Relay struct {
	opts      Options
	log       *slog.Logger
	ln        *net.TCPListener
	chunkSize int

	// ctx is cancelled by Close; it aborts dials in progress.
	ctx    context.Context
	cancel context.CancelFunc

	// delay is the one-way delay in nanoseconds, read for every chunk.
	delay atomic.Int64

	accepted   atomic.Int64
	active     atomic.Int64
	dialErrors atomic.Int64
	toTarget   atomic.Int64
	toClient   atomic.Int64
	buffered   atomic.Int64

	// wg counts the accept goroutine and every session's serve goroutine.
	wg sync.WaitGroup

	// mu guards closed and sessions. wg.Add for a session happens under mu
	// and only while !closed, so Close's wg.Wait cannot race with it.
	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Start validates opts, listens on opts.Listen and starts relaying to
// opts.Target.
func Start(opts Options) (*Relay, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("wanrelay: listen %s: %w", opts.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		opts:      opts,
		log:       opts.Logger,
		ln:        ln.(*net.TCPListener),
		chunkSize: chunkSize(opts.Rate, opts.MaxBuffered),
		ctx:       ctx,
		cancel:    cancel,
		sessions:  make(map[*session]struct{}),
	}
	r.delay.Store(int64(opts.Delay))
	r.log.Info("wanrelay: listening", "addr", r.Addr(), "target", opts.Target,
		"delay", opts.Delay, "rate", opts.Rate)
	r.wg.Add(1)
	go r.acceptLoop()
	return r, nil
}

// chunkSize is the read size: 64 KiB, or about 1 ms of link time under a
// rate cap, never more than the buffer bound.
func chunkSize(rate, maxBuffered int64) int {
	size := int64(maxChunk)
	if rate > 0 {
		size = min(max(rate/1000, minRateChunk), maxChunk)
	}
	return int(max(min(size, maxBuffered), 1))
}

// Addr returns the address the relay listens on, as host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Port returns the port the relay listens on.
func (r *Relay) Port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// SetDelay changes the one-way delay. It applies to data read afterwards, on
// existing connections too; data already in flight keeps its arrival time.
// A negative delay is treated as zero.
func (r *Relay) SetDelay(d time.Duration) {
	r.delay.Store(int64(max(d, 0)))
}

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Accepted:      r.accepted.Load(),
		Active:        r.active.Load(),
		DialErrors:    r.dialErrors.Load(),
		BytesToTarget: r.toTarget.Load(),
		BytesToClient: r.toClient.Load(),
		Buffered:      r.buffered.Load(),
	}
}

// Close stops accepting, aborts every relayed connection (dropping data in
// flight) and waits for all the relay's goroutines to exit. Later calls
// return the first call's result.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		sessions := make([]*session, 0, len(r.sessions))
		for s := range r.sessions {
			sessions = append(sessions, s)
		}
		r.mu.Unlock()

		r.cancel()
		err := r.ln.Close()
		for _, s := range sessions {
			s.abort()
		}
		r.wg.Wait()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			r.closeErr = fmt.Errorf("wanrelay: close listener: %w", err)
		}
		r.log.Info("wanrelay: closed", "addr", r.Addr())
	})
	return r.closeErr
}

func (r *Relay) acceptLoop() {
	defer r.wg.Done()
	var backoff time.Duration
	for {
		c, err := r.ln.AcceptTCP()
		if err != nil {
			if r.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Probably transient (EMFILE and friends): back off so a
			// persistent failure does not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			r.log.Warn("wanrelay: accept", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-r.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		s := newSession(r, c)
		if !r.track(s) {
			c.Close()
			return
		}
		r.accepted.Add(1)
		r.active.Add(1)
		go r.serve(s)
	}
}

// track registers s and counts its serve goroutine in wg; it reports false
// if the relay is closed.
func (r *Relay) track(s *session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.sessions[s] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *Relay) untrack(s *session) {
	r.mu.Lock()
	delete(r.sessions, s)
	r.mu.Unlock()
	r.active.Add(-1)
}

// serve dials the target for s and relays until both directions end or the
// session is aborted.
func (r *Relay) serve(s *session) {
	defer r.wg.Done()
	defer r.untrack(s)
	defer s.closeConns()

	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(r.ctx, "tcp", r.opts.Target)
	if err != nil {
		if r.ctx.Err() == nil {
			r.dialErrors.Add(1)
			s.log.Warn("wanrelay: dial target", "target", r.opts.Target, "err", err)
		}
		return
	}
	if !s.attach(nc.(*net.TCPConn)) {
		return
	}
	s.log.Debug("wanrelay: relaying", "target", r.opts.Target)
	s.run()
	s.log.Debug("wanrelay: done")
}
