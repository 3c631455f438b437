package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// mkdir serves NFSPROC3_MKDIR (see serveCreate).
func mkdir(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.MkdirArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	return req.serveCreate(&a, &a.Where, nil, w)
}
