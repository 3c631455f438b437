package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// create serves NFSPROC3_CREATE (see serveCreate).
func create(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.CreateArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	return req.serveCreate(&a, &a.Where, nil, w)
}
