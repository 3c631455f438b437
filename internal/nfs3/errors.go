package nfs3

import (
	"fmt"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Sentinel decode errors. Each wraps the xdr sentinel of the same kind, so
// errors.Is(err, xdr.ErrTooLong) also matches ErrListTooLong.
var (
	// ErrListTooLong reports a linked list (directory entries, exports,
	// groups, mounts) or counted array longer than this package accepts.
	ErrListTooLong = fmt.Errorf("nfs3: list too long: %w", xdr.ErrTooLong)

	// ErrBadFType reports an ftype3 value outside NF3REG..NF3FIFO.
	ErrBadFType = fmt.Errorf("nfs3: bad ftype3: %w", xdr.ErrEnum)
)
