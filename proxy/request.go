package proxy

import (
	"context"
	"errors"
	"slices"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// errDrop tells the dispatcher to send no reply.
var errDrop = errors.New("proxy: drop request")

// request is one call being served.
type request struct {
	ctx  context.Context
	s    *Server
	c    *conn
	xid  uint32
	prog uint32
	proc uint32
	cred rpc.Cred
	vol  *volume // set by resolve: the volume whose policy cred obeys
	// unreachable is set when an upstream call failed in transport (not
	// with an NFS status): the condition serve-stale answers.
	unreachable bool
	// servedStale is set when the reply uses caches of any age
	// (serveStale); finish counts the request once.
	servedStale bool
	// upstream is set when the request sent a call upstream; result, when
	// a handler knows better than that (a READ through the data cache).
	// Both decide the result label of the latency histogram (resultOf).
	upstream bool
	result   string
	fetch    coherency.Fetcher // the data cache's fetcher for this request's READ
	// span, when its N is set, is a READ reply's payload, sent from the
	// cache file after the reply in w (conn.writeSpan); the reply's
	// opaque length already counts it.
	span   cache.Span
	spanOK bool       // the reply may carry a span (its connection can send one)
	r      xdr.Reader // the arguments
	w      xdr.Writer // the reply, while the handler runs
}

// resolve maps the proxy handle *fh to its volume and rewrites *fh in place
// to the upstream handle.
func (req *request) resolve(fh *nfs3.FH) (*volume, nfs3.Stat) {
	id, ufh, ok := splitHandle(*fh)
	if !ok {
		return nil, nfs3.StatBadHandle
	}
	v := req.s.vols[id]
	if v == nil {
		return nil, nfs3.StatBadHandle
	}
	if req.vol == nil {
		pol := &v.live.Load().Policy
		if !pol.allows(req.c.remote) {
			req.s.stats.refused.Add(1)
			return nil, nfs3.StatAcces
		}
		pol.squash(&req.cred)
		req.vol = v
	}
	*fh = ufh
	vr := v.ready.Load()
	if vr == nil {
		// Pending: the upstream has not been mounted yet.
		req.unreachable = true
		return nil, upstreamDown(v)
	}
	if len(vr.fsids) > 0 {
		if st := req.checkFSID(v, vr.fsids, ufh); st != nfs3.StatOK {
			return nil, st
		}
	}
	return v, nfs3.StatOK
}

// checkFSID makes sure ufh names an object of v's filesystems: from its
// cached attributes (of any age: fsid never changes), or from a GETATTR
// the first time the handle is seen.
func (req *request) checkFSID(v *volume, fsids []uint64, ufh nfs3.FH) nfs3.Stat {
	a, _, ok := v.meta.Attr(ufh)
	if !ok {
		var res nfs3.GetattrRes
		if st := req.call(v, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: ufh}, &res); st != nfs3.StatOK {
			return st
		}
		if res.Status != nfs3.StatOK {
			return res.Status
		}
		a = res.Attr
		if !slices.Contains(fsids, a.FSID) {
			req.s.stats.foreignHandles.Add(1)
			req.s.log.Warn("handle of another filesystem refused", "volume", v.ID, "fsid", a.FSID, "client", req.c.remote.String())
			return nfs3.StatStale
		}
		v.meta.PutAttr(ufh, a)
		return nfs3.StatOK
	}
	if !slices.Contains(fsids, a.FSID) {
		req.s.stats.foreignHandles.Add(1)
		return nfs3.StatStale
	}
	return nfs3.StatOK
}

// resolve2 resolves two handles that must lie in the same volume (RENAME,
// LINK); different volumes are NFS3ERR_XDEV.
func (req *request) resolve2(a, b *nfs3.FH) (*volume, nfs3.Stat) {
	va, st := req.resolve(a)
	if st != nfs3.StatOK {
		return nil, st
	}
	vb, st := req.resolve(b)
	if st != nfs3.StatOK {
		return nil, st
	}
	if va != vb {
		return nil, nfs3.StatXDev
	}
	return va, nfs3.StatOK
}

// writable returns ROFS for a read-only volume.
func (req *request) writable(v *volume) nfs3.Stat {
	if v.live.Load().ReadOnly {
		return nfs3.StatROFS
	}
	return nfs3.StatOK
}

// forward sends the request's own procedure upstream; a transport failure
// becomes a status.
func (req *request) forward(v *volume, args xdr.Encoder, res xdr.Decoder) nfs3.Stat {
	return req.call(v, req.proc, args, res)
}

// call sends proc upstream with the caller's (squashed) credential.
func (req *request) call(v *volume, proc uint32, args xdr.Encoder, res xdr.Decoder) nfs3.Stat {
	timeout := req.s.opts.RequestTimeout
	if v.Failure.Soft {
		timeout = min(timeout, v.Failure.SoftTimeout)
	}
	if v.upstreamSlots != nil {
		select {
		case v.upstreamSlots <- struct{}{}:
			defer func() { <-v.upstreamSlots }()
		default:
			// This volume's upstream already holds its share of the
			// request slots (it is slow or hung): answer now, as for an
			// unreachable upstream (JUKEBOX, or IO when soft), rather
			// than take a slot other volumes need.
			req.unreachable = true
			req.s.stats.volumeBusy.Add(1)
			return upstreamDown(v)
		}
	}
	ctx, cancel := context.WithTimeout(req.ctx, timeout)
	defer cancel()
	req.upstream = true
	if err := v.Upstream.Call(ctx, &req.cred, proc, args, res); err != nil {
		req.unreachable = true
		st := v.upstreamStatus(err)
		req.s.log.Warn("upstream call failed", "volume", v.ID, "proc", nfs3.ProcName(proc),
			"xid", req.xid, "err", err, "status", st.String())
		return st
	}
	return nfs3.StatOK
}

// wrapPostOpFH replaces an upstream handle in a post_op_fh3 with the proxy's;
// a handle too long to wrap is dropped (the client then LOOKUPs, which fails
// cleanly) and logged.
func (req *request) wrapPostOpFH(v *volume, p *nfs3.PostOpFH) {
	if !p.Set {
		return
	}
	fh, ok := v.wrap(p.FH)
	if !ok {
		req.s.log.Error("upstream handle too long to wrap", "volume", v.ID, "len", len(p.FH), "max", MaxUpstreamHandle)
		p.Set, p.FH = false, nil
		return
	}
	p.FH = fh
}
