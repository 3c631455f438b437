package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"

	"context"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// errChanged tells the data cache that the upstream's file changed under a
// fetch: the bytes belong to another version and must not be stored.
var errChanged = errors.New("proxy: file changed during fetch")

// read serves NFSPROC3_READ. With a data cache, a regular file whose
// current attributes are known (cached and fresh, or just revalidated) and
// which the caller may read is served through the cache: present granules
// from disk, the rest fetched from the upstream with the caller's
// credential and kept. Everything else is forwarded.
func read(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.ReadArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	a.Count = min(a.Count, uint32(req.s.opts.MaxIO))
	v, st := req.resolve(&a.File)
	if st == nfs3.StatOK && v.Data != nil && req.readCached(v, &a, w) {
		return nil
	}
	if st == nfs3.StatOK && req.unreachable {
		st = upstreamDown(v)
	}
	req.readForward(v, a, st, w)
	return nil
}

// readForward answers a READ the cache did not serve: forwarded, or with
// status st when that is not OK. (A separate function, so that only this
// path pays for arguments and results on the heap.)
func (req *request) readForward(v *volume, a nfs3.ReadArgs, st nfs3.Stat, w *xdr.Writer) {
	var res nfs3.ReadRes
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.ReadRes{Status: st}
	}
	if v != nil {
		req.notePostOp(v, a.File, res.Attr, res.Status)
		if res.Status == nfs3.StatOK {
			v.meta.PutAccess(a.File, req.cred.Key(), nfs3.AccessRead, nfs3.AccessRead) // it read: it may
		}
	}
	res.Encode(w)
}

// notePostOp records post-op attributes of a forwarded call.
func (req *request) notePostOp(v *volume, fh nfs3.FH, p nfs3.PostOpAttr, st nfs3.Stat) {
	v.meta.PutPostOp(fh, p)
	if st == nfs3.StatStale {
		req.stale(v, fh)
	}
}

// fetcher fetches granules of one file for the data cache, with the
// credential of the reader that caused the fetch. It lives in the request
// (no allocation on a cache hit) and owns a copy of the handle, because
// readahead may use it after the request's buffers are reused.
type fetcher struct {
	v     *volume
	cred  rpc.Cred
	coh   cache.Coherency
	fhLen int
	fh    [nfs3.FHSize]byte
}

var _ cache.Fetcher = (*fetcher)(nil)

// Fetch implements cache.Fetcher: one upstream READ, whose post-op
// attributes must still be the version being cached.
func (f *fetcher) Fetch(ctx context.Context, p []byte, off int64) (int, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, f.v.fetchTimeout)
	defer cancel()
	fh := nfs3.FH(f.fh[:f.fhLen])
	ra := nfs3.ReadArgs{File: fh, Offset: uint64(off), Count: uint32(len(p))}
	var rr nfs3.ReadRes
	if err := f.v.Upstream.Call(ctx, &f.cred, nfs3.ProcRead, &ra, &rr); err != nil {
		return 0, false, err
	}
	if rr.Status != nfs3.StatOK {
		return 0, false, rr.Status
	}
	if !rr.Attr.Set {
		return 0, false, errChanged // no proof these bytes are the version being cached
	}
	if !version.Same(version.Of(&rr.Attr.Attr), f.coh) {
		f.v.meta.PutAttr(fh, rr.Attr.Attr)
		return 0, false, errChanged
	}
	return copy(p, rr.Data), rr.EOF, nil
}

// readCached tries the data cache; false means "forward instead" and
// leaves w untouched.
func (req *request) readCached(v *volume, a *nfs3.ReadArgs, w *xdr.Writer) bool {
	attr, ok := req.attrs(v, a.File)
	if !ok {
		ok = req.serveStale(v, func() bool { return req.attrStale(v, a.File, &attr) })
	}
	if !ok || attr.Type != nfs3.TypeReg {
		return false
	}
	if !req.mayAccess(v, a.File, &attr, nfs3.AccessRead, coherency.PermRead) {
		return false // let the upstream decide (and say ACCES)
	}
	mark := w.Len()
	w.Uint32(uint32(nfs3.StatOK))
	post := nfs3.PostOpAttr{Set: true, Attr: attr}
	post.Encode(w)
	countAt := w.Len()
	w.Uint32(0) // count
	w.Uint32(0) // eof
	w.Uint32(0) // opaque length
	if a.Offset >= attr.Size || a.Count == 0 {
		if a.Offset >= attr.Size {
			binary.BigEndian.PutUint32(w.Buf[countAt+4:], 1)
		}
		return true
	}
	count := int(min(uint64(a.Count), attr.Size-a.Offset))

	f := &req.fetch
	f.v, f.cred, f.coh, f.fhLen = v, req.cred, version.Of(&attr), copy(f.fh[:], a.File)
	// The cache fills the payload in place, after the reply head.
	start := w.Len()
	w.Buf = slices.Grow(w.Buf, count+3)[:start+count]
	n, fromUp, err := v.Data.ReadAt(req.ctx, f.fh[:f.fhLen], f.coh, w.Buf[start:start+count], int64(a.Offset), f)
	if err != nil {
		w.Buf = w.Buf[:mark]
		// Forward instead: the client gets the upstream's own answer.
		if st, ok := err.(nfs3.Stat); ok && st == nfs3.StatStale {
			req.stale(v, a.File)
		}
		return false
	}
	w.Buf = append(w.Buf[:start+n], zeroPad[:(4-n&3)&3]...)
	binary.BigEndian.PutUint32(w.Buf[countAt:], uint32(n))
	if a.Offset+uint64(n) >= attr.Size {
		binary.BigEndian.PutUint32(w.Buf[countAt+4:], 1)
	}
	binary.BigEndian.PutUint32(w.Buf[countAt+8:], uint32(n))
	req.result = resultHit
	if fromUp > 0 {
		req.result = resultMiss
	}
	return true
}

var zeroPad [4]byte
