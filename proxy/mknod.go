package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// mknod serves NFSPROC3_MKNOD (see serveCreate).
func mknod(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.MknodArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	return req.serveCreate(&a, &a.Where, nil, w)
}
