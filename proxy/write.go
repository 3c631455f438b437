package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// write serves NFSPROC3_WRITE: write-through. The client's stable_how goes
// upstream unchanged and the upstream's count, committed and verifier come
// back unchanged. When the WCC data proves the write was the only change
// (pre-op attributes equal what the data cache recorded), the written
// bytes are applied to the cached granules; otherwise the cached data is
// dropped. An upstream that sends no pre-op attributes (nfs-ganesha) has
// the cached attributes stand in for them when coherency says they may
// (Cache.EndWrite, called by the WRITE rule of Cache.AfterChange); the
// client's reply carries the upstream's WCC data unchanged.
func write(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.WriteArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	if int(a.Count) != len(a.Data) {
		return errGarbage // RFC 1813: count is the data's length
	}
	var res nfs3.WriteRes
	v, st := req.resolve(&a.File)
	if st == nfs3.StatOK {
		st = req.writable(v)
	}
	ch := coherency.Change{Proc: nfs3.ProcWrite, Obj: a.File, Offset: a.Offset}
	if st == nfs3.StatOK {
		tok := v.meta.BeginWrite(a.File)
		ch.Write = &tok
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.WriteRes{Status: st}
	}
	if v != nil {
		ch.Status, ch.ObjWcc, ch.Count = res.Status, res.Wcc, res.Count
		v.afterChange(&ch, a.Data[:min(int(res.Count), len(a.Data))], int64(a.Offset))
	}
	res.Encode(w)
	return nil
}
