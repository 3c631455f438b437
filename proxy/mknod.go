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
	req.serveCreate(&a, &a.Where, w)
	return nil
}
