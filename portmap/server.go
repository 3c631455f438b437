package portmap

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/accept"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Server answers portmapper calls on any number of TCP listeners and UDP
// packet conns.
type Server struct {
	mappings []Mapping // immutable after New
	opts     Options
	log      *slog.Logger
	stats    counters
	wg       sync.WaitGroup  // Serve and ServeUDP loops, connections
	ctx      context.Context // done at Close: ends an accept backoff
	cancel   context.CancelFunc

	// mu guards listeners, packetConns, conns and closed.
	mu          sync.Mutex
	listeners   map[net.Listener]struct{}
	packetConns map[net.PacketConn]struct{}
	conns       map[net.Conn]struct{}
	closed      bool
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		ctx:         ctx,
		cancel:      cancel,
		mappings:    opts.Mappings,
		opts:        opts,
		log:         opts.Logger,
		listeners:   make(map[net.Listener]struct{}),
		packetConns: make(map[net.PacketConn]struct{}),
		conns:       make(map[net.Conn]struct{}),
	}, nil
}

// Serve accepts TCP connections on l until Close, serving each on its own
// goroutine. It returns ErrClosed after Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	isClosed := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.closed
	}
	if err := accept.Loop(s.ctx, l, "portmap", s.log, clockwork.NewRealClock(), isClosed, s.startConn); err != nil {
		return err
	}
	return ErrClosed
}

func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closed || len(s.conns) >= s.opts.MaxConns {
		full := !s.closed
		s.mu.Unlock()
		if full {
			s.stats.refused.Add(1)
		}
		nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.serveConn(nc)
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
}

// serveConn answers the calls on one TCP connection, in order, until it
// ends, idles out or sends something unframeable.
func (s *Server) serveConn(nc net.Conn) {
	defer nc.Close()
	q := query{local: addrOf(nc.LocalAddr())}
	br := bufio.NewReaderSize(nc, 4096)
	var rec []byte
	w := xdr.NewWriter(make([]byte, 0, 4096))
	for {
		if s.opts.IdleTimeout > 0 {
			nc.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		}
		var err error
		rec, err = rpc.ReadRecord(br, rec, maxRecord)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("portmap: connection closed", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		w.Buf = w.Buf[:0]
		w.Uint32(0) // record mark
		if !s.dispatch(rec, q, w) {
			return // not a call: the stream cannot be trusted further
		}
		rpc.SetRecordHeader(w.Buf)
		nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := nc.Write(w.Buf); err != nil {
			return
		}
	}
}

// addrOf returns the IP of a net.Addr, unmapped, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	case *net.UDPAddr:
		ip = a.AddrPort().Addr()
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return ip
}

// Close stops every Serve and ServeUDP, closes every connection and waits
// for all goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for pc := range s.packetConns {
		pc.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

type counters struct {
	calls   atomic.Int64
	garbage atomic.Int64
	refused atomic.Int64
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Calls   int64 // calls decoded (answered, whatever the answer)
	Garbage int64 // messages dropped as unparsable plus GARBAGE_ARGS replies
	Refused int64 // TCP connections closed because MaxConns were open
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{Calls: s.stats.calls.Load(), Garbage: s.stats.garbage.Load(), Refused: s.stats.refused.Load()}
}
