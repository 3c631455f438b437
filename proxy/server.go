package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/accept"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpcsrv"
)

// Options configures a Server. The zero value of every field but Volumes works.
type Options struct {
	Volumes []Volume

	MaxRecord    int           // largest request record accepted (default 1 MiB + 64 KiB)
	MaxIO        int           // cap on READ/WRITE sizes advertised by FSINFO (default 1 MiB)
	PerConnLimit int           // requests in flight per connection (default 64)
	GlobalLimit  int           // requests in flight across the server (default 1024)
	WriteTimeout time.Duration // a reply that cannot be written in this time closes the connection (default 60s)
	// NoSendfile makes warm READs copy their payload through the proxy's
	// memory instead of sending it from the cache file (sendfile); for
	// comparing the two, and for file systems whose sendfile misbehaves.
	NoSendfile  bool
	IdleTimeout time.Duration // a connection with no request for this long, or a record not complete this long after its mark, is closed (default 15m)
	MaxConns    int           // open client connections; more are accepted and closed at once (default 4096)
	// MaxConnsPerClient bounds the open connections from one client
	// address (default 256, at most MaxConns): one host cannot lock the
	// others out.
	MaxConnsPerClient int
	// RecordTimeout bounds the time from a request's first bytes to its
	// last (default 60s, at most IdleTimeout): a stalled half-sent request
	// holds its buffer only that long.
	RecordTimeout time.Duration
	// PartialRecordBytes bounds the bytes held by records that have begun
	// to arrive and are not complete, across all connections (default
	// 64 MiB, at least MaxRecord). Beyond it the connections holding the
	// most are closed first (partial.go).
	PartialRecordBytes int64
	RequestTimeout     time.Duration // upstream work for one request (default 5m)
	DRCSize            int           // replies kept for retransmitted non-idempotent calls (default 8192)

	// Observer, when set, is told of every request: program ("nfs" or
	// "mount"), lower-case procedure name, result ("hit": answered without
	// the upstream; "miss": a cached kind of procedure that needed it;
	// "pass": a state-changing procedure, always forwarded), duration and
	// whether the reply was a success.
	Observer interface {
		ObserveResult(prog, proc, result string, d time.Duration, ok bool)
	}

	Logger *slog.Logger

	// Clock is the time source of the server's own timers: the age of
	// duplicate-request cache entries, the accept backoff and the
	// once-a-second limit on "too many connections" lines. Nil means the
	// real clock; tests pass a fake one and advance it. (Socket deadlines
	// are the kernel's and always run on real time.)
	Clock clockwork.Clock
}

func (o *Options) setDefaults() {
	if o.MaxIO == 0 {
		o.MaxIO = 1 << 20
	}
	if o.MaxRecord == 0 {
		o.MaxRecord = o.MaxIO + 64<<10
	}
	if o.PerConnLimit == 0 {
		o.PerConnLimit = 64
	}
	if o.GlobalLimit == 0 {
		o.GlobalLimit = 1024
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 15 * time.Minute
	}
	if o.RecordTimeout == 0 {
		o.RecordTimeout = time.Minute
		if o.IdleTimeout > 0 {
			o.RecordTimeout = min(o.RecordTimeout, o.IdleTimeout)
		}
	}
	if o.PartialRecordBytes == 0 {
		o.PartialRecordBytes = max(64<<20, int64(o.MaxRecord))
	}
	if o.MaxConns == 0 {
		o.MaxConns = 4096
	}
	if o.MaxConnsPerClient == 0 {
		o.MaxConnsPerClient = min(256, o.MaxConns)
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 5 * time.Minute
	}
	if o.DRCSize == 0 {
		o.DRCSize = 8192
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
}

// Validate reports the first invalid field.
func (o *Options) Validate() error {
	if len(o.Volumes) == 0 {
		return errors.New("proxy: Volumes: none configured")
	}
	ids := map[uint16]bool{}
	names := map[string]bool{}
	for i, v := range o.Volumes {
		switch {
		case v.Upstream == nil:
			return fmt.Errorf("proxy: Volumes[%d].Upstream: nil", i)
		case v.Name == "" || v.Name[0] != '/':
			return fmt.Errorf("proxy: Volumes[%d].Name: %q is not an absolute path", i, v.Name)
		case ids[v.ID]:
			return fmt.Errorf("proxy: Volumes[%d].ID: %d used twice", i, v.ID)
		case names[v.Name]:
			return fmt.Errorf("proxy: Volumes[%d].Name: %q used twice", i, v.Name)
		case !v.Pending && len(v.Upstream.Root()) > MaxUpstreamHandle:
			return fmt.Errorf("proxy: Volumes[%d]: upstream root handle is %d bytes, more than the %d that fit", i, len(v.Upstream.Root()), MaxUpstreamHandle)
		}
		ids[v.ID], names[v.Name] = true, true
	}
	switch {
	case o.MaxIO < 4096 || o.MaxIO > nfs3.MaxData:
		return fmt.Errorf("proxy: MaxIO: %d not in 4096..%d", o.MaxIO, nfs3.MaxData)
	case o.MaxRecord < o.MaxIO+1024:
		return fmt.Errorf("proxy: MaxRecord: %d smaller than MaxIO+1024", o.MaxRecord)
	case o.MaxConnsPerClient < 1 || o.MaxConnsPerClient > o.MaxConns:
		return fmt.Errorf("proxy: MaxConnsPerClient: %d not in 1..MaxConns (%d)", o.MaxConnsPerClient, o.MaxConns)
	case o.PartialRecordBytes < int64(o.MaxRecord):
		return fmt.Errorf("proxy: PartialRecordBytes: %d smaller than MaxRecord (%d)", o.PartialRecordBytes, o.MaxRecord)
	case o.RecordTimeout <= 0:
		return fmt.Errorf("proxy: RecordTimeout: %v must be above 0", o.RecordTimeout)
	case o.PerConnLimit < 1:
		return fmt.Errorf("proxy: PerConnLimit: %d < 1", o.PerConnLimit)
	case o.GlobalLimit < o.PerConnLimit:
		return fmt.Errorf("proxy: GlobalLimit: %d < PerConnLimit", o.GlobalLimit)
	case o.MaxConns < 1:
		return fmt.Errorf("proxy: MaxConns: %d < 1", o.MaxConns)
	case o.WriteTimeout < 0 || o.IdleTimeout < 0 || o.RequestTimeout < 0:
		return errors.New("proxy: WriteTimeout, IdleTimeout, RequestTimeout: negative")
	}
	return nil
}

// Server serves NFSv3 and MOUNT v3 on any number of listeners.
type Server struct {
	opts   Options
	log    *slog.Logger
	clock  clockwork.Clock
	vols   map[uint16]*volume
	byName map[string]*volume
	global chan struct{}
	mounts mountTable
	drc    *drc
	stats  serverStats
	// partial is the budget of bytes in records under way (partial.go).
	partial *partialBudget
	// rejects counts refused names and limits and GARBAGE_ARGS by reason (reject.go).
	rejects rejections
	// idle gets a token (never blocking) each time the requests in flight
	// drop to none; Shutdown waits on it.
	idle chan struct{}
	// connStats counts connections closed by the server's own bounds.
	connStats struct {
		rejected          atomic.Int64
		rejectedPerClient atomic.Int64
		notAdmitted       atomic.Int64
		idleClosed        atomic.Int64
		writeTimeouts     atomic.Int64
		lastRejectLog     atomic.Int64 // unix nanoseconds of the last "too many connections" line
	}
	ctx    context.Context
	cancel context.CancelFunc
	// grp holds the listeners and connections served, with their
	// goroutines and the activations' (activate.go); a connection's
	// requests are its own (conn.serve waits for them).
	grp rpcsrv.Group

	// mu guards conns and perClient: the connections open, and their
	// number by client address. It is taken inside grp's lock (admission).
	mu        sync.Mutex
	conns     map[*conn]struct{}
	perClient map[netip.Addr]int
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		clock:     opts.Clock,
		vols:      make(map[uint16]*volume),
		byName:    make(map[string]*volume),
		global:    make(chan struct{}, opts.GlobalLimit),
		perClient: make(map[netip.Addr]int),
		conns:     make(map[*conn]struct{}),
		drc:       newDRC(opts.DRCSize, drcTTL),
		idle:      make(chan struct{}, 1),
		partial:   newPartialBudget(opts.PartialRecordBytes),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i := range opts.Volumes {
		v, err := newVolume(opts.Volumes[i])
		if err != nil {
			return nil, err
		}
		v.fetchSrc = coherency.Source{Upstream: v.Upstream, Meta: v.meta, Timeout: opts.RequestTimeout}
		if len(opts.Volumes) > 1 {
			// A volume whose upstream hangs may hold at most three
			// quarters of the request slots waiting on it; the rest
			// stay for the other volumes (request.call).
			v.upstreamSlots = make(chan struct{}, max(1, opts.GlobalLimit*3/4))
		}
		if v.Failure.Soft {
			v.fetchSrc.Timeout = min(v.fetchSrc.Timeout, v.Failure.SoftTimeout)
		}
		s.vols[v.ID] = v
		s.byName[v.Name] = v
	}
	s.startActivations()
	return s, nil
}

// Serve accepts connections on l until Close. It serves both NFS and MOUNT
// (and answers any program on any listener), so one port is enough.
func (s *Server) Serve(l net.Listener) error {
	if !s.grp.Enter(l) {
		return ErrClosed
	}
	defer s.grp.Leave(l)
	if err := accept.Loop(s.ctx, l, "proxy", s.log, s.clock, s.grp.Closed, s.startConn); err != nil {
		return err
	}
	return ErrClosed
}

func (s *Server) startConn(nc net.Conn) {
	var addr netip.Addr
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		addr = ta.AddrPort().Addr().Unmap()
	}
	if !s.admitsAny(nc.RemoteAddr()) {
		// No volume would serve this address: close before it costs
		// anything (its requests would all be refused anyway).
		s.connStats.notAdmitted.Add(1)
		nc.Close()
		return
	}
	// Admission and the counts are one step under grp's lock, so no
	// bound is overshot by connections arriving together.
	var rejected, perClient bool
	var c *conn
	admit := func(int) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.conns) >= s.opts.MaxConns || s.perClient[addr] >= s.opts.MaxConnsPerClient {
			rejected, perClient = true, len(s.conns) < s.opts.MaxConns
			return false
		}
		c = newConn(s, nc)
		s.conns[c] = struct{}{}
		s.perClient[addr]++
		s.stats.connections.Add(1)
		return true
	}
	serve := func() {
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		if s.perClient[addr]--; s.perClient[addr] <= 0 {
			delete(s.perClient, addr)
		}
		s.mu.Unlock()
		s.stats.connections.Add(-1)
	}
	if !s.grp.Go(nc, admit, serve) {
		if rejected {
			// Count before closing: a client that sees the close must
			// find the rejection already counted.
			s.rejectedConn(nc.RemoteAddr(), perClient)
		}
		nc.Close()
	}
}

// admitsAny reports whether some volume's policy admits the address (and
// source port) remote connects from.
func (s *Server) admitsAny(remote net.Addr) bool {
	ta, ok := remote.(*net.TCPAddr)
	if !ok {
		return true
	}
	ap := ta.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, v := range s.vols {
		if v.live.Load().Policy.allows(ap) {
			return true
		}
	}
	return false
}

// rejectedConn counts a connection closed for MaxConns (or, perClient,
// MaxConnsPerClient) and logs it, at most once a second.
func (s *Server) rejectedConn(remote net.Addr, perClient bool) {
	n := s.connStats.rejected.Add(1)
	if perClient {
		s.connStats.rejectedPerClient.Add(1)
	}
	now := s.clock.Now().UnixNano()
	last := s.connStats.lastRejectLog.Load()
	if now-last < int64(time.Second) || !s.connStats.lastRejectLog.CompareAndSwap(last, now) {
		return
	}
	if perClient {
		s.log.Warn("too many connections from one client: closing its new ones", "client", remote.String(), "max_conns_per_client", s.opts.MaxConnsPerClient, "rejected_total", n)
		return
	}
	s.log.Warn("too many connections: closing new ones", "client", remote.String(), "max_conns", s.opts.MaxConns, "rejected_total", n)
}

// ConnStats counts connections the server closed because of its own bounds.
type ConnStats struct {
	Rejected int64 // accepted and closed at once: MaxConns were open, or MaxConnsPerClient from that address
	// RejectedPerClient is the part of Rejected due to MaxConnsPerClient.
	RejectedPerClient int64
	// NotAdmitted counts connections closed at accept because no volume's
	// policy admits their address.
	NotAdmitted   int64
	IdleClosed    int64 // no record, or no end of a started record, within IdleTimeout
	WriteTimeouts int64 // a reply could not be written within WriteTimeout
}

// ConnStats returns a snapshot of the connection counters.
func (s *Server) ConnStats() ConnStats {
	return ConnStats{
		Rejected:          s.connStats.rejected.Load(),
		RejectedPerClient: s.connStats.rejectedPerClient.Load(),
		NotAdmitted:       s.connStats.notAdmitted.Load(),
		IdleClosed:        s.connStats.idleClosed.Load(),
		WriteTimeouts:     s.connStats.writeTimeouts.Load(),
	}
}

// Close stops accepting, closes every connection, cancels requests in flight
// and waits for all goroutines.
func (s *Server) Close() error {
	s.grp.Shut()
	s.cancel()
	s.grp.Wait()
	return nil
}

// Shutdown stops accepting and waits up to ctx for requests in flight to
// finish and their replies to be written, then closes everything.
func (s *Server) Shutdown(ctx context.Context) error {
	s.grp.Stop()
	// Connections stay open until Close, so a request may still start;
	// each time the count drops to none, idle gets a token and the loop
	// looks again.
	for s.stats.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-s.idle:
		}
	}
	return s.Close()
}
