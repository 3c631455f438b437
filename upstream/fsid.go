package upstream

import (
	"context"
	"fmt"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// RootFSID returns the filesystem id of the export's root, from a GETATTR
// made with the proxy's own identity. The proxy checks handles against it
// (proxy.Volume.FSIDs): an object with another fsid belongs to another
// export of the same server. It fails with ErrNotMounted before the
// export is mounted.
func (c *Client) RootFSID(ctx context.Context) (uint64, error) {
	root := c.Root()
	if root == nil {
		return 0, fmt.Errorf("upstream: getattr of the export root: %w", ErrNotMounted)
	}
	ga, err := c.Getattr(ctx, &rootCred, &nfs3.GetattrArgs{Object: root})
	if err != nil {
		return 0, fmt.Errorf("upstream: getattr of the export root: %w", err)
	}
	if ga.Status != nfs3.StatOK {
		return 0, fmt.Errorf("upstream: getattr of the export root: %w", ga.Status)
	}
	return ga.Attr.FSID, nil
}
