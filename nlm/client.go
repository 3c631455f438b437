package nlm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Client calls one NLM (or any ONC RPC) server over TCP. Calls are
// pipelined on one connection and matched to replies by xid; a broken
// connection fails the calls in flight and the next call dials again.
// Send is a one-way call (the _MSG and _RES procedures) that waits for no
// reply; a reply that comes anyway is dropped.
type Client struct {
	addr string
	prog uint32
	vers uint32
	cred rpc.Cred

	// mu guards conn, pending, xid and closed.
	mu      sync.Mutex
	conn    *clientConn
	xid     uint32
	closed  bool
	readers sync.WaitGroup
}

type clientConn struct {
	nc net.Conn
	// wmu serializes writes on nc.
	wmu     sync.Mutex
	pending map[uint32]chan reply // guarded by Client.mu
	err     error                 // set (under Client.mu) when the reader ends
}

type reply struct {
	rec []byte
	err error
}

// NewClient returns a client of program prog version vers at addr
// ("host:port"), calling as AUTH_SYS root with machine name name.
func NewClient(addr string, prog, vers uint32, name string) *Client {
	return &Client{
		addr: addr, prog: prog, vers: vers,
		cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: name},
		xid:  uint32(time.Now().UnixNano()),
	}
}

// Addr is the server address.
func (c *Client) Addr() string { return c.addr }

// ErrClientClosed is returned by calls after Close.
var ErrClientClosed = errors.New("nlm: client closed")

// ErrConnection is wrapped by the error of a call whose connection failed
// before its reply arrived (the server closed an idle connection, say):
// the call may or may not have been executed.
var ErrConnection = errors.New("nlm: connection lost")

func (c *Client) connect(ctx context.Context) (*clientConn, uint32, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, 0, ErrClientClosed
	}
	if cc := c.conn; cc != nil && cc.err == nil {
		c.xid++
		x := c.xid
		c.mu.Unlock()
		return cc, x, nil
	}
	c.mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, 0, fmt.Errorf("nlm: dial %s: %w", c.addr, err)
	}
	cc := &clientConn{nc: nc, pending: make(map[uint32]chan reply)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return nil, 0, ErrClientClosed
	}
	if old := c.conn; old != nil && old.err == nil {
		// Another call connected first: use its connection.
		c.xid++
		x := c.xid
		c.mu.Unlock()
		nc.Close()
		return old, x, nil
	}
	c.conn = cc
	c.xid++
	x := c.xid
	c.readers.Add(1)
	c.mu.Unlock()
	go c.read(cc)
	return cc, x, nil
}

// read delivers replies on cc until it fails.
func (c *Client) read(cc *clientConn) {
	defer c.readers.Done()
	br := bufio.NewReader(cc.nc)
	var err error
	for {
		var rec []byte
		rec, err = rpc.ReadRecord(br, nil, 1<<20)
		if err != nil {
			break
		}
		if len(rec) < 4 {
			continue
		}
		x := uint32(rec[0])<<24 | uint32(rec[1])<<16 | uint32(rec[2])<<8 | uint32(rec[3])
		c.mu.Lock()
		ch := cc.pending[x]
		delete(cc.pending, x)
		c.mu.Unlock()
		if ch != nil {
			ch <- reply{rec: rec}
		}
	}
	cc.nc.Close()
	c.mu.Lock()
	cc.err = fmt.Errorf("%w: %s: %w", ErrConnection, c.addr, err)
	for x, ch := range cc.pending {
		ch <- reply{err: cc.err}
		delete(cc.pending, x)
	}
	c.mu.Unlock()
}

func (c *Client) send(cc *clientConn, x, proc uint32, args xdr.Encoder) error {
	w := xdr.NewWriter(make([]byte, 0, 256))
	w.Uint32(0)
	rpc.EncodeCall(w, x, c.prog, c.vers, proc, &c.cred)
	args.Encode(w)
	rpc.SetRecordHeader(w.Buf)
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := cc.nc.Write(w.Buf); err != nil {
		cc.nc.Close() // the reader fails the calls in flight
		return fmt.Errorf("%w: send to %s: %w", ErrConnection, c.addr, err)
	}
	return nil
}

// Call makes one call and decodes its result into res.
func (c *Client) Call(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	cc, x, err := c.connect(ctx)
	if err != nil {
		return err
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	if cc.err != nil {
		c.mu.Unlock()
		return cc.err
	}
	cc.pending[x] = ch
	c.mu.Unlock()
	if err := c.send(cc, x, proc, args); err != nil {
		c.forget(cc, x)
		return err
	}
	select {
	case rp := <-ch:
		if rp.err != nil {
			return rp.err
		}
		r := xdr.NewReader(rp.rec)
		if _, err := rpc.DecodeReply(r); err != nil {
			return fmt.Errorf("nlm: call %d to %s: %w", proc, c.addr, err)
		}
		if err := res.Decode(r); err != nil {
			return fmt.Errorf("nlm: decode result of %d from %s: %w", proc, c.addr, err)
		}
		return nil
	case <-ctx.Done():
		c.forget(cc, x)
		return fmt.Errorf("nlm: call %d to %s: %w", proc, c.addr, ctx.Err())
	}
}

func (c *Client) forget(cc *clientConn, x uint32) {
	c.mu.Lock()
	delete(cc.pending, x)
	c.mu.Unlock()
}

// Send makes a one-way call: it returns once the call is written.
func (c *Client) Send(ctx context.Context, proc uint32, args xdr.Encoder) error {
	cc, x, err := c.connect(ctx)
	if err != nil {
		return err
	}
	return c.send(cc, x, proc, args)
}

// Close closes the connection, fails the calls in flight and waits for the
// reader goroutine.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.conn != nil {
		c.conn.nc.Close()
	}
	c.mu.Unlock()
	c.readers.Wait()
	return nil
}

// pmapGetport is PMAPPROC_GETPORT's argument.
type pmapGetport struct{ prog, vers, prot, port uint32 }

func (a *pmapGetport) Encode(w *xdr.Writer) {
	w.Uint32(a.prog)
	w.Uint32(a.vers)
	w.Uint32(a.prot)
	w.Uint32(a.port)
}

type uint32Res struct{ v uint32 }

func (a *uint32Res) Decode(r *xdr.Reader) error {
	a.v = r.Uint32()
	return r.Err()
}

// GetPort asks the portmapper at pmapAddr ("host:port") for the TCP port of
// prog, vers; 0 means not registered.
func GetPort(ctx context.Context, pmapAddr string, prog, vers uint32) (uint32, error) {
	c := NewClient(pmapAddr, rpc.PmapProgram, rpc.PmapVersion, "")
	defer c.Close()
	var res uint32Res
	if err := c.Call(ctx, rpc.PmapProcGetport, &pmapGetport{prog: prog, vers: vers, prot: rpc.IPProtoTCP}, &res); err != nil {
		return 0, err
	}
	return res.v, nil
}
