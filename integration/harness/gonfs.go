package harness

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
)

// DialNFS returns a go-nfs-client Target for export on a server with
// explicit ports: it gets the root handle with its own MNT call at mountAddr
// ("host:port") and sends NFS v3 calls to nfsAddr with AUTH_SYS uid/gid.
// go-nfs-client's own nfs.DialMount and Mount always ask the portmapper for
// the ports (and, through a Mount without Addr, send NFS calls to the MOUNT
// port), which is wrong as soon as two servers share one rpcbind.
//
// The caller closes the Target (Target.Close). Caveats of go-nfs-client: each
// Target leaves a cache-cleaning goroutine running forever (ignore
// nfs.(*Target).cleanupCache in leak checks); a call that gets no reply is
// resent every 5s, up to 100 times, so bound tests by their own timeout;
// entryTimeout caches lookups (zero: each listing expires at once); after a
// lost connection it redials from a random port every 100ms until it can.
func DialNFS(ctx context.Context, nfsAddr, mountAddr, export string, uid, gid uint32, entryTimeout time.Duration) (*nfs.Target, error) {
	fh, err := MountRoot(ctx, mountAddr, export)
	if err != nil {
		return nil, err
	}
	// rpc.DialTCP binds a random local port in 49152-65535 and, unlike in
	// its privileged mode, does not pick another when that one is taken
	// (say, by a TIME_WAIT socket): retry it here.
	var c *rpc.Client
	for attempt := 1; ; attempt++ {
		c, err = rpc.DialTCP("tcp", nfsAddr, false)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 20 || ctx.Err() != nil {
			return nil, fmt.Errorf("harness: dial nfs %s: %w", nfsAddr, err)
		}
	}
	t, err := nfs.NewTargetWithClient(c, rpc.NewAuthUnix("harness", uid, gid).Auth(), fh, export, entryTimeout)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("harness: nfs target %s at %s: %w", export, nfsAddr, err)
	}
	return t, nil
}

// DialNFS is [DialNFS] for this server.
func (g *Ganesha) DialNFS(ctx context.Context, uid, gid uint32) (*nfs.Target, error) {
	return DialNFS(ctx, g.NFSAddr(), g.MountAddr(), g.Export, uid, gid, 0)
}
