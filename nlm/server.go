package nlm

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/accept"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("nlm: server closed")

const maxRecord = 8 << 10 // the largest NLM call is under 3 KiB

// Server is the proxy's NLM v4 server. Lock order: stateStore.mu, then
// Server.mu, then owners.mu (never the reverse); no network I/O under
// any.
type Server struct {
	opts   Options
	log    *slog.Logger
	owners *owners
	stats  counters
	ctx    context.Context // cancelled by Close: stops pollers and calls
	cancel context.CancelFunc
	wg     sync.WaitGroup // Serve loops, connections, pollers

	// mu guards listeners, packetConns, conns, closed, blocked, held,
	// nolocksLogged and rec's maps and flags.
	mu            sync.Mutex
	listeners     map[net.Listener]struct{}
	packetConns   map[net.PacketConn]struct{}
	conns         map[net.Conn]struct{}
	closed        bool
	blocked       map[blockKey]*blockedLock
	held          map[client]map[heldKey]struct{} // files each client locked upstream
	nolocksLogged map[uint16]bool
	rec           recovery // restarts: recover.go
}

// heldKey names an upstream file locked by one upstream owner.
type heldKey struct {
	vol  uint16
	svid int32
	ufh  string
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Logger, owners: newOwners(opts.Name, svidBase(opts.Clock.Now())),
		ctx: ctx, cancel: cancel,
		listeners:     make(map[net.Listener]struct{}),
		packetConns:   make(map[net.PacketConn]struct{}),
		conns:         make(map[net.Conn]struct{}),
		blocked:       make(map[blockKey]*blockedLock),
		held:          make(map[client]map[heldKey]struct{}),
		nolocksLogged: make(map[uint16]bool),
	}
	if s.opts.Callback == nil {
		s.opts.Callback = s.portmapCallback
	}
	if s.opts.Notify == nil {
		s.opts.Notify = s.portmapNotify
	}
	if err := s.recoverState(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// svidBase is the first upstream svid of a server started at now: 16 per
// second since 2020, wrapping every four years or so, so a restart starts
// past the svids of the previous run unless it handed out 16 a second.
func svidBase(now time.Time) int32 {
	const epoch = 1577836800 // 2020-01-01
	return int32(uint64(now.Unix()-epoch) * 16 % (1 << 31))
}

// Serve accepts TCP connections on l until Close.
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
	if err := accept.Loop(s.ctx, l, "nlm", s.log, s.opts.Clock, s.isClosed, s.startConn); err != nil {
		return err
	}
	return ErrClosed
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// startConn serves nc on its own goroutine, unless the server is closed.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
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

// maxInFlight bounds the calls handled at once per TCP connection and per
// UDP socket; a further call waits to be read.
const maxInFlight = 32

// serveConn answers the calls on one connection, up to maxInFlight at a
// time (a client's lockd sends all its calls on one connection), replies
// in the order they are ready.
func (s *Server) serveConn(nc net.Conn) {
	from := addrOf(nc.RemoteAddr())
	br := bufio.NewReader(nc)
	sem := make(chan struct{}, maxInFlight)
	var (
		calls sync.WaitGroup
		wmu   sync.Mutex // serializes reply writes
	)
	defer func() {
		nc.Close()
		calls.Wait()
	}()
	for {
		rec, err := rpc.ReadRecord(br, nil, maxRecord)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("nlm: connection closed", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		sem <- struct{}{}
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer func() { <-sem }()
			w := xdr.NewWriter(make([]byte, 0, 512))
			w.Uint32(0)
			if !s.dispatch(rec, from, w) {
				nc.Close() // not a call: the stream cannot be trusted further
				return
			}
			if len(w.Buf) == 4 {
				return // a one-way call: no reply
			}
			rpc.SetRecordHeader(w.Buf)
			wmu.Lock()
			defer wmu.Unlock()
			nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := nc.Write(w.Buf); err != nil {
				nc.Close()
			}
		}()
	}
}

// ServeUDP answers calls arriving on pc until Close, up to maxInFlight at
// a time. Replies leave from pc's address: bind it to one address (not
// the wildcard) on a host with several.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		return ErrClosed
	}
	s.packetConns[pc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	sem := make(chan struct{}, maxInFlight)
	var calls sync.WaitGroup
	defer calls.Wait()
	for {
		buf := make([]byte, maxRecord)
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		sem <- struct{}{}
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer func() { <-sem }()
			w := xdr.NewWriter(make([]byte, 0, 512))
			w.Uint32(0) // room for a record mark, not sent on UDP
			if s.dispatch(buf[:n], addrOf(addr), w) && len(w.Buf) > 4 {
				pc.WriteTo(w.Buf[4:], addr)
			}
		}()
	}
}

// addrOf returns a's address and port, the address unmapped.
func addrOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// dispatch decodes one call and appends its reply to w (nothing for a
// one-way call). It returns false for a message that is not a call.
func (s *Server) dispatch(rec []byte, from netip.AddrPort, w *xdr.Writer) bool {
	r := xdr.NewReader(rec)
	var h rpc.CallHeader
	if err := rpc.DecodeCall(r, &h); err != nil {
		s.stats.garbage.Add(1)
		return false
	}
	s.stats.calls.Add(1)
	switch {
	case h.RPCVers != rpc.RPCVersion:
		rpc.EncodeRPCMismatch(w, h.XID)
		return true
	case h.CredErr != nil:
		rpc.EncodeAuthError(w, h.XID, rpc.AuthBadCred)
		return true
	case h.Prog == ProgramNSM && h.Vers == VersionNSM:
		return s.dispatchNSM(&h, r, from.Addr().String(), w)
	case h.Prog == ProgramNSM:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgMismatch)
		w.Uint32(VersionNSM)
		w.Uint32(VersionNSM)
		return true
	case h.Prog != Program:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgUnavail)
		return true
	case h.Vers != Version4:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProgMismatch)
		w.Uint32(Version4)
		w.Uint32(Version4)
		return true
	}
	var (
		args xdr.Decoder
		run  func() xdr.Encoder
	)
	switch h.Proc {
	case ProcNull:
		args, run = Void, func() xdr.Encoder { return Void }
	case ProcTest:
		a := new(TestArgs)
		args, run = a, func() xdr.Encoder { return s.test(from, a) }
	case ProcLock:
		a := new(LockArgs)
		args, run = a, func() xdr.Encoder { return s.lock(from, a) }
	case ProcNMLock:
		// A lock of a host that runs no statd: served as a non-blocking
		// LOCK (the host frees its locks with FREE_ALL when it reboots).
		a := new(LockArgs)
		args, run = a, func() xdr.Encoder { a.Block = false; return s.lock(from, a) }
	case ProcCancel:
		a := new(CancArgs)
		args, run = a, func() xdr.Encoder { return s.cancelLock(from, a) }
	case ProcUnlock:
		a := new(UnlockArgs)
		args, run = a, func() xdr.Encoder { return s.unlock(from, a) }
	case ProcGranted:
		a := new(TestArgs)
		args, run = a, func() xdr.Encoder { res, _ := s.granted(a); return res }
	case ProcGrantedMsg:
		// The upstream's asynchronous grant (ganesha sends this form):
		// no reply; the answer is a GRANTED_RES call back.
		a := new(TestArgs)
		args, run = a, func() xdr.Encoder { s.grantedMsg(a); return nil }
	case ProcFreeAll:
		a := new(NotifyArgs)
		ip := from.Addr().String()
		args, run = a, func() xdr.Encoder {
			// Only for the caller's own address: no host frees another's.
			s.freeAll(func(c client) bool { return c.name == a.Name && c.addr == ip })
			return Void
		}
	case ProcGrantedRes, ProcTestRes, ProcLockRes, ProcCancelRes, ProcUnlockRes:
		// Replies to one-way calls we never make: ignore.
		return true
	default:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
		return true
	}
	if err := args.Decode(r); err != nil {
		s.stats.garbage.Add(1)
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.GarbageArgs)
		return true
	}
	res := run()
	if res == nil {
		return true
	}
	rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
	res.Encode(w)
	return true
}

// dispatchNSM answers the NSM calls a client's statd makes: NULL and
// SM_NOTIFY (the client at the sender's address rebooted: its locks are
// freed upstream). The
// proxy monitors nobody, so the other procedures are PROC_UNAVAIL.
func (s *Server) dispatchNSM(h *rpc.CallHeader, r *xdr.Reader, ip string, w *xdr.Writer) bool {
	switch h.Proc {
	case ProcNSMNull:
	case ProcSMNotify:
		var a NotifyArgs // stat_chge has the layout of nlm4_notify
		if a.Decode(r) != nil {
			s.stats.garbage.Add(1)
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.GarbageArgs)
			return true
		}
		s.log.Info("nlm: client rebooted (SM_NOTIFY): releasing its locks", "client", ip, "name", a.Name, "state", a.State)
		// Matched by the sender's address, not the name it claims, so no
		// host can free another's locks (a rebooted client's statd calls
		// from the client's own address).
		s.freeAll(func(c client) bool { return c.addr == ip })
		// The sender may be an upstream: its locks are to be reclaimed.
		s.upstreamRebooted(ip)
	default:
		rpc.EncodeAcceptedHeader(w, h.XID, rpc.ProcUnavail)
		return true
	}
	rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
	return true
}

// Close stops serving: it closes listeners and connections, stops the
// retries of blocked locks and waits for every goroutine. Locks held
// upstream stay held, and stay in the state file for the next run's
// clients to reclaim.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
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
	s.cancel()
	s.wg.Wait()
	return nil
}
