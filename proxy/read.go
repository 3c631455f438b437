package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"

	"encoding/binary"
	"errors"
	"slices"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

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

	// The version just validated is the one the cache serves and fills
	// (coherency's fetcher holds it, and tells when the upstream's has
	// moved on).
	f := &req.fetch
	f.Src, f.Cred, f.Want = &v.fetchSrc, req.cred, version.Of(&attr)
	fh := f.SetHandle(a.File)
	if req.spanOK && count&3 == 0 {
		// All of it cached and checked: the connection's writer sends
		// it from the cache file after the head (sendfile), no copy.
		// (Lengths that need XDR padding take the copying path.)
		if sp, ok := v.Data.ReadSpan(fh, f.Want, int64(a.Offset), count, f); ok {
			putReadCount(w.Buf[countAt:], count, a.Offset+uint64(count) >= attr.Size)
			req.span = sp
			req.result = resultHit
			return true
		}
	}
	// The cache fills the payload in place, after the reply head.
	start := w.Len()
	w.Buf = slices.Grow(w.Buf, count+3)[:start+count]
	n, fromUp, err := v.Data.ReadAt(req.ctx, fh, f.Want, w.Buf[start:start+count], int64(a.Offset), f)
	if err != nil {
		var ch *coherency.Changed
		if !errors.As(err, &ch) {
			w.Buf = w.Buf[:mark]
			// Forward instead: the client gets the upstream's own answer.
			if st, ok := err.(nfs3.Stat); ok && st == nfs3.StatStale {
				req.stale(v, a.File)
			}
			return false
		}
		// The file changed under the fetch: its bytes are the
		// upstream's current ones, with these attributes. Answer with
		// both (no second READ); the cache did not keep them.
		attr = ch.Attr
		post := nfs3.PostOpAttr{Set: true, Attr: attr}
		// Same length as the attributes it replaces: encoded in place.
		post.Encode(&xdr.Writer{Buf: w.Buf[mark+4 : mark+4]})
		fromUp = max(fromUp, 1) // it went upstream, even for no bytes
	}
	w.Buf = append(w.Buf[:start+n], zeroPad[:(4-n&3)&3]...)
	putReadCount(w.Buf[countAt:], n, a.Offset+uint64(n) >= attr.Size)
	req.result = resultHit
	if fromUp > 0 {
		req.result = resultMiss
	}
	return true
}

var zeroPad [4]byte

// putReadCount fills in a READ3resok's count, eof and the data's length
// (b starts at count) for n bytes.
func putReadCount(b []byte, n int, eof bool) {
	binary.BigEndian.PutUint32(b, uint32(n))
	if eof {
		binary.BigEndian.PutUint32(b[4:], 1)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(n))
}
