package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
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
	var res nfs3.ReadRes
	v, st := req.resolve(&a.File)
	if st == nfs3.StatOK {
		if v.Data != nil && req.readCached(v, &a, w) {
			return nil
		}
		if req.unreachable {
			st = upstreamDown(v)
		} else {
			st = req.forward(v, &a, &res)
		}
	}
	if st != nfs3.StatOK {
		res = nfs3.ReadRes{Status: st}
	}
	if v != nil {
		req.notePostOp(v, a.File, res.Attr, res.Status)
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}

// notePostOp records post-op attributes of a forwarded call.
func (req *request) notePostOp(v *volume, fh nfs3.FH, p nfs3.PostOpAttr, st nfs3.Stat) {
	v.meta.PutPostOp(fh, p)
	if st == nfs3.StatStale {
		req.stale(v, fh)
	}
}

// readCached tries the data cache; false means "forward instead" and
// leaves w untouched.
func (req *request) readCached(v *volume, a *nfs3.ReadArgs, w *xdr.Writer) bool {
	attr, ok := req.attrs(v, a.File)
	if !ok && req.serveStale(v) {
		attr, _, ok = v.meta.Attr(a.File)
		if ok {
			req.s.stats.staleServed.Add(1)
		}
	}
	if !ok || attr.Type != nfs3.TypeReg {
		return false
	}
	if granted, ok := v.meta.Access(a.File, req.cred.Key(), nfs3.AccessRead); ok {
		if granted&nfs3.AccessRead == 0 {
			return false
		}
	} else if !permits(&attr, &req.cred, permRead) {
		return false // let the upstream decide (and say ACCES)
	}
	if a.Offset >= attr.Size || a.Count == 0 {
		req.encodeRead(w, &attr, nil, a.Offset >= attr.Size)
		return true
	}
	count := int(min(uint64(a.Count), attr.Size-a.Offset))
	coh := coherencyOf(&attr)
	fh := a.File
	cred := req.cred
	var fetch cache.Fetcher = func(ctx context.Context, p []byte, off int64) (int, bool, error) {
		ra := nfs3.ReadArgs{File: fh, Offset: uint64(off), Count: uint32(len(p))}
		var rr nfs3.ReadRes
		if err := v.Upstream.Call(ctx, &cred, nfs3.ProcRead, &ra, &rr); err != nil {
			return 0, false, err
		}
		if rr.Status != nfs3.StatOK {
			return 0, false, rr.Status
		}
		if rr.Attr.Set {
			if coherencyOf(&rr.Attr.Attr) != coh {
				v.meta.PutAttr(fh, rr.Attr.Attr)
				return 0, false, errChanged
			}
		}
		return copy(p, rr.Data), rr.EOF, nil
	}

	// Encode the reply head, then let the cache fill the payload in place.
	mark := w.Len()
	w.Uint32(uint32(nfs3.StatOK))
	post := nfs3.PostOpAttr{Set: true, Attr: attr}
	post.Encode(w)
	countAt := w.Len()
	w.Uint32(0) // count
	w.Uint32(0) // eof
	w.Uint32(0) // opaque length
	start := w.Len()
	w.Buf = slices.Grow(w.Buf, count+3)[:start+count]
	n, err := v.Data.ReadAt(req.ctx, fh, coh, w.Buf[start:start+count], int64(a.Offset), fetch)
	if err != nil {
		w.Buf = w.Buf[:mark]
		// Forward instead: the client gets the upstream's own answer.
		if st, ok := err.(nfs3.Stat); ok && st == nfs3.StatStale {
			req.stale(v, fh)
		}
		return false
	}
	eof := a.Offset+uint64(n) >= attr.Size
	w.Buf = w.Buf[:start+n]
	w.Buf = append(w.Buf, zeroPad[:(4-n&3)&3]...)
	binary.BigEndian.PutUint32(w.Buf[countAt:], uint32(n))
	if eof {
		binary.BigEndian.PutUint32(w.Buf[countAt+4:], 1)
	}
	binary.BigEndian.PutUint32(w.Buf[countAt+8:], uint32(n))
	req.status = nfs3.StatOK
	return true
}

// encodeRead writes a successful READ reply with data.
func (req *request) encodeRead(w *xdr.Writer, attr *nfs3.Fattr3, data []byte, eof bool) {
	res := nfs3.ReadRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: *attr}, Count: uint32(len(data)), EOF: eof, Data: data}
	req.status = nfs3.StatOK
	res.Encode(w)
}

var zeroPad [4]byte
