package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Options configures a Client. The zero value of every field but Server and
// Export works.
type Options struct {
	Server    string // upstream host name or address
	Export    string // exported path to MNT, e.g. "/export"
	NFSPort   int    // 0: ask the upstream's portmapper
	MountPort int    // 0: ask the upstream's portmapper

	Conns       int           // TCP connections to the NFS port (default 2)
	CallTimeout time.Duration // per attempt, when the context has no earlier deadline (default 30s)
	DialTimeout time.Duration // default 5s
	Retries     int           // further attempts for retryable failures (default 2; -1 = none)
	// Hard retries retryable failures (lost or refused connections,
	// timeouts) until the call's context ends, like a hard mount, instead
	// of Retries times. Calls that may have run are still never replayed.
	Hard bool

	// UnprivilegedPort disables binding a source port below 1024. By
	// default one is tried when running as root and the client falls back
	// to any port when none is free.
	UnprivilegedPort bool

	// Observer, when set, is told of every NFS call: lower-case procedure
	// name, duration (retries included) and whether it got a reply.
	Observer interface {
		ObserveRequest(prog, proc string, d time.Duration, ok bool)
	}

	Logger *slog.Logger

	// Clock times the backoff between retries and the hang watchdog; nil
	// means the real clock. (Per-attempt deadlines are on the connection
	// and use real time.)
	Clock clockwork.Clock

	// The hang watchdog (see health.go): a connection with calls in flight
	// and no reply for HangAfter (default 15s) is sent a NULL call, checked
	// every HangCheck (default 5s); no answer within PingTimeout (default
	// 5s) breaks it and marks the upstream down.
	HangAfter, HangCheck, PingTimeout time.Duration

	// MountRetryMin and MountRetryMax bound the backoff between MNT
	// attempts of a client from Start whose upstream was unreachable
	// (defaults 1s and 30s).
	MountRetryMin, MountRetryMax time.Duration
}

func (o *Options) setDefaults() {
	if o.Conns == 0 {
		o.Conns = 2
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.HangAfter == 0 {
		o.HangAfter = 15 * time.Second
	}
	if o.HangCheck == 0 {
		o.HangCheck = 5 * time.Second
	}
	if o.PingTimeout == 0 {
		o.PingTimeout = 5 * time.Second
	}
	if o.MountRetryMin == 0 {
		o.MountRetryMin = time.Second
	}
	if o.MountRetryMax == 0 {
		o.MountRetryMax = 30 * time.Second
	}
}

// Validate reports the first invalid field.
func (o *Options) Validate() error {
	switch {
	case o.Server == "":
		return errors.New("upstream: Server: empty")
	case o.Export == "" || o.Export[0] != '/':
		return fmt.Errorf("upstream: Export: %q is not an absolute path", o.Export)
	case o.NFSPort < 0 || o.NFSPort > 65535:
		return fmt.Errorf("upstream: NFSPort: %d out of range", o.NFSPort)
	case o.MountPort < 0 || o.MountPort > 65535:
		return fmt.Errorf("upstream: MountPort: %d out of range", o.MountPort)
	case o.Conns < 0 || o.Conns > 64:
		return fmt.Errorf("upstream: Conns: %d not in 1..64", o.Conns)
	}
	return nil
}

// Client talks to one upstream export.
type Client struct {
	opts    Options
	nfsAddr string
	root    nfs3.FH
	log     *slog.Logger
	xid     atomic.Uint32
	next    atomic.Uint32

	// mu guards conns and closed. Dialling happens outside it.
	mu     sync.Mutex
	conns  []*conn
	closed bool

	dialMu []sync.Mutex // one per slot: a single dial at a time per slot

	stats  counters
	health health

	stopWatch context.CancelFunc
	watchers  sync.WaitGroup

	// mounted is set, and mountedCh closed, once the export is mounted;
	// nfsAddr and root are written before and never after.
	mounted   atomic.Bool
	mountedCh chan struct{}
}

// Dial resolves the upstream's ports, mounts the export to learn its root
// handle and opens the connection pool lazily.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	c, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	if err := c.mount(ctx); err != nil {
		return nil, err
	}
	c.startWatch()
	return c, nil
}

func newClient(opts Options) (*Client, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Client{opts: opts, log: opts.Logger.With("upstream", opts.Server+":"+opts.Export), mountedCh: make(chan struct{})}
	c.conns = make([]*conn, opts.Conns)
	c.dialMu = make([]sync.Mutex, opts.Conns)
	c.xid.Store(rand.Uint32())
	return c, nil
}

// mount resolves the NFS port and MNTs the export; on success the client
// is mounted: Root is known and calls may be sent.
func (c *Client) mount(ctx context.Context) error {
	nfsPort := c.opts.NFSPort
	if nfsPort == 0 {
		p, err := c.getport(ctx, nfs3.Program, nfs3.Version)
		if err != nil {
			return fmt.Errorf("upstream: portmap nfs: %w", err)
		}
		nfsPort = p
	}
	root, err := c.mountRoot(ctx)
	if err != nil {
		return err
	}
	c.nfsAddr = net.JoinHostPort(c.opts.Server, strconv.Itoa(nfsPort))
	c.root = root
	c.mounted.Store(true)
	close(c.mountedCh)
	return nil
}

func (c *Client) startWatch() {
	wctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = cancel
	c.watchers.Add(1)
	go c.watch(wctx)
}

// Root returns the export's root handle (do not modify); nil until the
// client is mounted (see Start).
func (c *Client) Root() nfs3.FH {
	if !c.mounted.Load() {
		return nil
	}
	return c.root
}

// Addr returns the NFS address in use (once mounted).
func (c *Client) Addr() string { return c.nfsAddr }

// Close closes every connection and waits for their readers.
func (c *Client) Close() error {
	if c.stopWatch != nil {
		c.stopWatch()
		c.watchers.Wait()
	}
	c.mu.Lock()
	c.closed = true
	conns := append([]*conn(nil), c.conns...)
	c.mu.Unlock()
	for _, cn := range conns {
		if cn != nil {
			cn.close()
		}
	}
	return nil
}

// dial opens a TCP connection, from a privileged port when allowed.
func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	if !c.opts.UnprivilegedPort && os.Geteuid() == 0 {
		// Walk down from 1023 through a few random starting points; a
		// busy port is EADDRINUSE and costs only a bind.
		start := 665 + rand.IntN(1023-665)
		for i := 0; i < 32; i++ {
			port := 665 + (start-665+i*37)%(1023-665)
			d := net.Dialer{LocalAddr: &net.TCPAddr{Port: port}}
			nc, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				return nc, nil
			}
			if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return nil, err
			}
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// getConn returns a live connection, dialling slot i when needed.
func (c *Client) getConn(ctx context.Context) (*conn, error) {
	if !c.mounted.Load() {
		return nil, ErrNotMounted
	}
	i := int(c.next.Add(1)) % len(c.conns)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	cn := c.conns[i]
	c.mu.Unlock()
	if cn != nil && !cn.isBroken() {
		return cn, nil
	}
	c.dialMu[i].Lock()
	defer c.dialMu[i].Unlock()
	c.mu.Lock()
	cn = c.conns[i]
	c.mu.Unlock()
	if cn != nil && !cn.isBroken() {
		return cn, nil
	}
	if cn != nil {
		cn.close()
	}
	nc, err := c.dial(ctx, c.nfsAddr)
	if err != nil {
		if ctx.Err() == nil {
			c.markDown("dial: " + err.Error())
		}
		return nil, fmt.Errorf("%w: dial %s: %w", ErrNotSent, c.nfsAddr, err)
	}
	if cn != nil {
		c.stats.reconnects.Add(1)
		c.log.Info("reconnected", "addr", c.nfsAddr)
	}
	cn = newConn(nc, c)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.close()
		return nil, ErrClosed
	}
	c.conns[i] = cn
	c.mu.Unlock()
	return cn, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Call performs one NFSv3 call with cred and decodes the results into res.
// Results may alias the reply buffer, which is not reused: they stay valid.
// An NFS error status is not an error here: it is in res.
func (c *Client) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	return c.call(ctx, cred, nfs3.Program, nfs3.Version, proc, idempotent(proc, args), args, res)
}

func (c *Client) call(ctx context.Context, cred *rpc.Cred, prog, vers, proc uint32, idem bool, args xdr.Encoder, res xdr.Decoder) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	start := time.Now()
	c.stats.calls.Add(1)
	c.stats.inflight.Add(1)
	defer c.stats.inflight.Add(-1)
	var err error
	lost := 0 // attempts that reached the wire and then lost their connection
	for attempt := 0; ; attempt++ {
		var rec []byte
		rec, err = c.attempt(ctx, bp, cred, prog, vers, proc, args)
		if err == nil {
			var r xdr.Reader
			r.Reset(rec)
			if _, err = rpc.DecodeReply(&r); err == nil {
				if err = res.Decode(&r); err != nil {
					err = fmt.Errorf("%w: %s: %w", ErrBadReply, nfs3.ProcName(proc), err)
				}
			}
			break
		}
		if ctx.Err() != nil || (!c.opts.Hard && attempt >= c.opts.Retries) || Classify(err) != Retry {
			break
		}
		if !idem && !errors.Is(err, ErrNotSent) {
			break // it may have run: never replay it blindly
		}
		if errors.Is(err, ErrConnLost) {
			// A call in flight each time the connection died may be what
			// kills the upstream (nfs-ganesha 4.3 aborts on some LOOKUP
			// names): it is not sent a third time, whatever the mode.
			if lost++; lost >= maxLostAttempts {
				c.stats.poisoned.Add(1)
				c.log.Error("upstream connection died twice with this call in flight; not sending it again",
					"proc", nfs3.ProcName(proc), "fh", fmt.Sprintf("%x", firstHandle(args)), "err", err)
				err = fmt.Errorf("%w: %s: %w", ErrSuspectCall, nfs3.ProcName(proc), err)
				break
			}
		}
		c.stats.retries.Add(1)
		backoff := time.Duration(50<<min(attempt, 5)) * time.Millisecond
		t := c.opts.Clock.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.Chan():
		}
		t.Stop()
	}
	d := time.Since(start)
	c.stats.observe(proc, d, err)
	if err == nil {
		switch proc {
		case nfs3.ProcRead:
			if r, ok := res.(*nfs3.ReadRes); ok {
				c.stats.readBytes.Add(int64(len(r.Data)))
			}
		case nfs3.ProcWrite:
			if a, ok := args.(*nfs3.WriteArgs); ok {
				c.stats.writeBytes.Add(int64(len(a.Data)))
			}
		}
	}
	if c.opts.Observer != nil && prog == nfs3.Program && proc < numProcs {
		c.opts.Observer.ObserveRequest("nfs", nfs3.ProcLabel(proc), d, err == nil)
	}
	return err
}

func (c *Client) attempt(ctx context.Context, bp *[]byte, cred *rpc.Cred, prog, vers, proc uint32, args xdr.Encoder) ([]byte, error) {
	cn, err := c.getConn(ctx)
	if err != nil {
		return nil, err
	}
	xid := c.xid.Add(1)
	w := xdr.NewWriter((*bp)[:0])
	w.Uint32(0) // record mark, filled in by roundTrip
	rpc.EncodeCall(w, xid, prog, vers, proc, cred)
	args.Encode(w)
	*bp = w.Buf
	deadline := time.Now().Add(c.opts.CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return cn.roundTrip(ctx, xid, w.Buf, deadline)
}

// idempotent reports whether replaying proc cannot change the outcome.
// WRITE and COMMIT are: the same bytes at the same offset.
func idempotent(proc uint32, args xdr.Encoder) bool {
	switch proc {
	case nfs3.ProcCreate, nfs3.ProcMkdir, nfs3.ProcSymlink, nfs3.ProcMknod,
		nfs3.ProcRemove, nfs3.ProcRmdir, nfs3.ProcRename, nfs3.ProcLink:
		return false
	case nfs3.ProcSetattr:
		a, ok := args.(*nfs3.SetattrArgs)
		return ok && !a.Guard
	}
	return true
}

// maxLostAttempts is how many times a call may be on the wire when its
// connection dies before it is failed instead of sent again.
const maxLostAttempts = 2

// firstHandle returns the file handle that starts an NFSv3 call's
// arguments (every procedure but NULL starts with one), for logging.
func firstHandle(args xdr.Encoder) []byte {
	w := xdr.NewWriter(nil)
	args.Encode(w)
	r := xdr.NewReader(w.Bytes())
	fh := r.Opaque(nfs3.FHSize)
	if r.Err() != nil {
		return nil
	}
	return fh
}
