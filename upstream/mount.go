package upstream

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rootCred is used for MNT and portmapper calls.
var rootCred = rpc.Cred{Flavor: rpc.AuthSys, Machine: "nfscacheproxy"}

// oneShot makes a single call on a fresh connection to addr and closes it.
func (c *Client) oneShot(ctx context.Context, addr string, prog, vers, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	nc, err := c.dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	cn := newConn(nc, c)
	defer cn.close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	w := xdr.NewWriter((*bp)[:0])
	w.Uint32(0)
	xid := c.xid.Add(1)
	rpc.EncodeCall(w, xid, prog, vers, proc, &rootCred)
	args.Encode(w)
	*bp = w.Buf
	deadline := time.Now().Add(c.opts.CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	rec, err := cn.roundTrip(ctx, xid, w.Buf, deadline)
	if err != nil {
		return err
	}
	var r xdr.Reader
	r.Reset(rec)
	if _, err := rpc.DecodeReply(&r); err != nil {
		return err
	}
	if err := res.Decode(&r); err != nil {
		return fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return nil
}

type pmapArgs struct{ prog, vers uint32 }

func (a *pmapArgs) Encode(w *xdr.Writer) {
	w.Uint32(a.prog)
	w.Uint32(a.vers)
	w.Uint32(rpc.IPProtoTCP)
	w.Uint32(0)
}

type pmapRes struct{ port uint32 }

func (r *pmapRes) Decode(x *xdr.Reader) error { r.port = x.Uint32(); return x.Err() }

// getport asks the upstream's portmapper (port 111) for prog/vers over TCP.
func (c *Client) getport(ctx context.Context, prog, vers uint32) (int, error) {
	var res pmapRes
	addr := net.JoinHostPort(c.opts.Server, "111")
	if err := c.oneShot(ctx, addr, rpc.PmapProgram, rpc.PmapVersion, rpc.PmapProcGetport, &pmapArgs{prog, vers}, &res); err != nil {
		return 0, err
	}
	if res.port == 0 || res.port > 65535 {
		return 0, fmt.Errorf("program %d v%d not registered on %s", prog, vers, c.opts.Server)
	}
	return int(res.port), nil
}

// mountRoot MNTs the export and returns its root handle.
func (c *Client) mountRoot(ctx context.Context) (nfs3.FH, error) {
	port := c.opts.MountPort
	if port == 0 {
		p, err := c.getport(ctx, nfs3.MountProgram, nfs3.MountVersion)
		if err != nil {
			return nil, fmt.Errorf("upstream: portmap mount: %w", err)
		}
		port = p
	}
	addr := net.JoinHostPort(c.opts.Server, strconv.Itoa(port))
	var res nfs3.MntRes
	if err := c.oneShot(ctx, addr, nfs3.MountProgram, nfs3.MountVersion, nfs3.MountProcMnt, &nfs3.MntArgs{Path: c.opts.Export}, &res); err != nil {
		return nil, fmt.Errorf("upstream: mount %s:%s: %w", c.opts.Server, c.opts.Export, err)
	}
	if res.Status != nfs3.MountOK {
		return nil, fmt.Errorf("%w: %s:%s: %v", ErrMountDenied, c.opts.Server, c.opts.Export, res.Status)
	}
	return append(nfs3.FH(nil), res.FH...), nil
}
