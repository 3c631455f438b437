package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// remove serves NFSPROC3_REMOVE (see serveRemove).
func remove(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.RemoveArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	return req.serveRemove(&a, &a.Object, w)
}
