package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// write serves NFSPROC3_WRITE: write-through. The client's stable_how goes
// upstream unchanged and the upstream's count, committed and verifier come
// back unchanged. When the WCC data proves the write was the only change
// (pre-op attributes equal what the data cache recorded), the written
// bytes are applied to the cached granules; otherwise the cached data is
// dropped.
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
	if st == nfs3.StatOK {
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.WriteRes{Status: st}
	}
	if v != nil {
		ours := v.meta.ApplyWcc(a.File, res.Wcc)
		if v.Data != nil {
			switch {
			case res.Status == nfs3.StatOK && res.Wcc.Before.Set && res.Wcc.After.Set:
				pre := wccCoherency(res.Wcc.After.Attr.FileID, &res.Wcc.Before.Attr)
				post := coherencyOf(&res.Wcc.After.Attr)
				v.Data.WroteAt(a.File, pre, post, a.Data[:min(int(res.Count), len(a.Data))], int64(a.Offset))
			case !ours:
				v.Data.Invalidate(a.File)
			}
		}
		if res.Status == nfs3.StatStale {
			req.stale(v, a.File)
		}
	}
	req.status = res.Status
	res.Encode(w)
	return nil
}
