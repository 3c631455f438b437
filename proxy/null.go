package proxy

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// null serves NFSPROC3_NULL and MOUNTPROC3_NULL: an empty reply.
func null(req *request, r *xdr.Reader, w *xdr.Writer) error { return nil }
