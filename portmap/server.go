package portmap

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/accept"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpcsrv"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Server answers portmapper calls on any number of TCP listeners and UDP
// packet conns.
type Server struct {
	mappings []Mapping // immutable after New
	opts     Options
	log      *slog.Logger
	stats    counters
	ctx      context.Context // done at Close: ends an accept backoff
	cancel   context.CancelFunc
	// grp holds the listeners, packet conns and connections served, with
	// their goroutines (Serve and ServeUDP loops, connections).
	grp rpcsrv.Group
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		ctx:      ctx,
		cancel:   cancel,
		mappings: opts.Mappings,
		opts:     opts,
		log:      opts.Logger,
	}, nil
}

// Serve accepts TCP connections on l until Close, serving each on its own
// goroutine. It returns ErrClosed after Close.
func (s *Server) Serve(l net.Listener) error {
	if !s.grp.Enter(l) {
		l.Close()
		return ErrClosed
	}
	defer s.grp.Leave(l)
	if err := accept.Loop(s.ctx, l, "portmap", s.log, clockwork.NewRealClock(), s.grp.Closed, s.startConn); err != nil {
		return err
	}
	return ErrClosed
}

func (s *Server) startConn(nc net.Conn) {
	full := false
	admit := func(open int) bool {
		full = open >= s.opts.MaxConns
		return !full
	}
	if !s.grp.Go(nc, admit, func() { s.serveConn(nc) }) {
		if full {
			s.stats.refused.Add(1)
		}
		nc.Close()
	}
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
	s.cancel()
	s.grp.Close()
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
