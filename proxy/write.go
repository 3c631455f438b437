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
// (Cache.EndWrite); the client's reply carries the upstream's WCC data
// unchanged.
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
	var tok coherency.WriteToken
	sent := st == nfs3.StatOK
	if sent {
		tok = v.meta.BeginWrite(a.File)
		st = req.forward(v, &a, &res)
	}
	if st != nfs3.StatOK {
		res = nfs3.WriteRes{Status: st}
	}
	wcc := res.Wcc // a copy: stand-in pre-op attributes never reach the client
	if sent {
		v.meta.EndWrite(tok, res.Status, a.Offset, res.Count, &wcc)
	}
	if v != nil {
		ours := v.meta.ApplyWcc(a.File, wcc)
		if v.Data != nil {
			switch {
			case res.Status == nfs3.StatOK && wcc.Before.Set && wcc.After.Set:
				pre := wccCoherency(wcc.After.Attr.FileID, &wcc.Before.Attr)
				post := coherencyOf(&wcc.After.Attr)
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
