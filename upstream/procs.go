package upstream

import (
	"context"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// The typed, handle-based methods: one per NFSv3 procedure. Each returns the
// decoded result (whose Status may be an NFS error) or a transport error.

type result[R any] interface {
	*R
	xdr.Decoder
}

func do[R any, PR result[R]](ctx context.Context, c *Client, cred *rpc.Cred, proc uint32, a xdr.Encoder) (*R, error) {
	res := new(R)
	if err := c.Call(ctx, cred, proc, a, PR(res)); err != nil {
		return nil, err
	}
	return res, nil
}

type empty struct{}

func (empty) Encode(*xdr.Writer)         {}
func (empty) Decode(r *xdr.Reader) error { return r.Err() }

// Null pings the NFS service.
func (c *Client) Null(ctx context.Context) error {
	return c.Call(ctx, &rootCred, nfs3.ProcNull, empty{}, empty{})
}

// Getattr calls NFSPROC3_GETATTR.
func (c *Client) Getattr(ctx context.Context, cred *rpc.Cred, a *nfs3.GetattrArgs) (*nfs3.GetattrRes, error) {
	return do[nfs3.GetattrRes](ctx, c, cred, nfs3.ProcGetattr, a)
}

// Setattr calls NFSPROC3_SETATTR.
func (c *Client) Setattr(ctx context.Context, cred *rpc.Cred, a *nfs3.SetattrArgs) (*nfs3.SetattrRes, error) {
	return do[nfs3.SetattrRes](ctx, c, cred, nfs3.ProcSetattr, a)
}

// Lookup calls NFSPROC3_LOOKUP.
func (c *Client) Lookup(ctx context.Context, cred *rpc.Cred, a *nfs3.LookupArgs) (*nfs3.LookupRes, error) {
	return do[nfs3.LookupRes](ctx, c, cred, nfs3.ProcLookup, a)
}

// Access calls NFSPROC3_ACCESS.
func (c *Client) Access(ctx context.Context, cred *rpc.Cred, a *nfs3.AccessArgs) (*nfs3.AccessRes, error) {
	return do[nfs3.AccessRes](ctx, c, cred, nfs3.ProcAccess, a)
}

// Readlink calls NFSPROC3_READLINK.
func (c *Client) Readlink(ctx context.Context, cred *rpc.Cred, a *nfs3.ReadlinkArgs) (*nfs3.ReadlinkRes, error) {
	return do[nfs3.ReadlinkRes](ctx, c, cred, nfs3.ProcReadlink, a)
}

// Read calls NFSPROC3_READ.
func (c *Client) Read(ctx context.Context, cred *rpc.Cred, a *nfs3.ReadArgs) (*nfs3.ReadRes, error) {
	return do[nfs3.ReadRes](ctx, c, cred, nfs3.ProcRead, a)
}

// Write calls NFSPROC3_WRITE.
func (c *Client) Write(ctx context.Context, cred *rpc.Cred, a *nfs3.WriteArgs) (*nfs3.WriteRes, error) {
	return do[nfs3.WriteRes](ctx, c, cred, nfs3.ProcWrite, a)
}

// Create calls NFSPROC3_CREATE.
func (c *Client) Create(ctx context.Context, cred *rpc.Cred, a *nfs3.CreateArgs) (*nfs3.CreateRes, error) {
	return do[nfs3.CreateRes](ctx, c, cred, nfs3.ProcCreate, a)
}

// Mkdir calls NFSPROC3_MKDIR.
func (c *Client) Mkdir(ctx context.Context, cred *rpc.Cred, a *nfs3.MkdirArgs) (*nfs3.MkdirRes, error) {
	return do[nfs3.MkdirRes](ctx, c, cred, nfs3.ProcMkdir, a)
}

// Symlink calls NFSPROC3_SYMLINK.
func (c *Client) Symlink(ctx context.Context, cred *rpc.Cred, a *nfs3.SymlinkArgs) (*nfs3.SymlinkRes, error) {
	return do[nfs3.SymlinkRes](ctx, c, cred, nfs3.ProcSymlink, a)
}

// Mknod calls NFSPROC3_MKNOD.
func (c *Client) Mknod(ctx context.Context, cred *rpc.Cred, a *nfs3.MknodArgs) (*nfs3.MknodRes, error) {
	return do[nfs3.MknodRes](ctx, c, cred, nfs3.ProcMknod, a)
}

// Remove calls NFSPROC3_REMOVE.
func (c *Client) Remove(ctx context.Context, cred *rpc.Cred, a *nfs3.RemoveArgs) (*nfs3.RemoveRes, error) {
	return do[nfs3.RemoveRes](ctx, c, cred, nfs3.ProcRemove, a)
}

// Rmdir calls NFSPROC3_RMDIR.
func (c *Client) Rmdir(ctx context.Context, cred *rpc.Cred, a *nfs3.RmdirArgs) (*nfs3.RmdirRes, error) {
	return do[nfs3.RmdirRes](ctx, c, cred, nfs3.ProcRmdir, a)
}

// Rename calls NFSPROC3_RENAME.
func (c *Client) Rename(ctx context.Context, cred *rpc.Cred, a *nfs3.RenameArgs) (*nfs3.RenameRes, error) {
	return do[nfs3.RenameRes](ctx, c, cred, nfs3.ProcRename, a)
}

// Link calls NFSPROC3_LINK.
func (c *Client) Link(ctx context.Context, cred *rpc.Cred, a *nfs3.LinkArgs) (*nfs3.LinkRes, error) {
	return do[nfs3.LinkRes](ctx, c, cred, nfs3.ProcLink, a)
}

// Readdir calls NFSPROC3_READDIR.
func (c *Client) Readdir(ctx context.Context, cred *rpc.Cred, a *nfs3.ReaddirArgs) (*nfs3.ReaddirRes, error) {
	return do[nfs3.ReaddirRes](ctx, c, cred, nfs3.ProcReaddir, a)
}

// Readdirplus calls NFSPROC3_READDIRPLUS.
func (c *Client) Readdirplus(ctx context.Context, cred *rpc.Cred, a *nfs3.ReaddirplusArgs) (*nfs3.ReaddirplusRes, error) {
	return do[nfs3.ReaddirplusRes](ctx, c, cred, nfs3.ProcReaddirplus, a)
}

// Fsstat calls NFSPROC3_FSSTAT.
func (c *Client) Fsstat(ctx context.Context, cred *rpc.Cred, a *nfs3.FsstatArgs) (*nfs3.FsstatRes, error) {
	return do[nfs3.FsstatRes](ctx, c, cred, nfs3.ProcFsstat, a)
}

// Fsinfo calls NFSPROC3_FSINFO.
func (c *Client) Fsinfo(ctx context.Context, cred *rpc.Cred, a *nfs3.FsinfoArgs) (*nfs3.FsinfoRes, error) {
	return do[nfs3.FsinfoRes](ctx, c, cred, nfs3.ProcFsinfo, a)
}

// Pathconf calls NFSPROC3_PATHCONF.
func (c *Client) Pathconf(ctx context.Context, cred *rpc.Cred, a *nfs3.PathconfArgs) (*nfs3.PathconfRes, error) {
	return do[nfs3.PathconfRes](ctx, c, cred, nfs3.ProcPathconf, a)
}

// Commit calls NFSPROC3_COMMIT.
func (c *Client) Commit(ctx context.Context, cred *rpc.Cred, a *nfs3.CommitArgs) (*nfs3.CommitRes, error) {
	return do[nfs3.CommitRes](ctx, c, cred, nfs3.ProcCommit, a)
}
