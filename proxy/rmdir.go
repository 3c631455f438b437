package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rmdir serves NFSPROC3_RMDIR (see serveRemove).
func rmdir(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RmdirArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	return req.serveRemove(&a, &a.Object, w)
}
