package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// symlink serves NFSPROC3_SYMLINK (see serveCreate); its target is checked
// too (checkSymlinkTarget).
func symlink(req *request, r *xdr.Reader, w *xdr.Writer) error {
	var a nfs3.SymlinkArgs
	if a.Decode(r) != nil {
		return errGarbage
	}
	return req.serveCreate(&a, &a.Where, &a.Path, w)
}
