package proxy

import (
	"encoding/binary"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Proxy file handles are
//
//	[format version:1][flags:1][volume id:2, big endian][upstream handle]
//
// They hold no state of ours: the same upstream object has the same proxy
// handle after a restart and on every proxy instance configured with the
// same volume ids.
const (
	handleVersion = 1
	handleHeader  = 4
	// MaxUpstreamHandle is the longest upstream handle that fits in an
	// NFSv3 handle (64 bytes) after our header.
	MaxUpstreamHandle = nfs3.FHSize - handleHeader
)

// appendHandle appends the proxy handle for upstream handle ufh in volume id.
func appendHandle(dst []byte, id uint16, ufh []byte) []byte {
	dst = append(dst, handleVersion, 0, byte(id>>8), byte(id))
	return append(dst, ufh...)
}

// splitHandle parses a proxy handle. ok is false for a handle that is too
// short, too long or of an unknown format version.
func splitHandle(fh []byte) (id uint16, ufh []byte, ok bool) {
	if len(fh) <= handleHeader || len(fh) > nfs3.FHSize || fh[0] != handleVersion || fh[1] != 0 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(fh[2:4]), fh[handleHeader:], true
}
