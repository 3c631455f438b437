package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestStartRetriesMountInBackground: Start with an upstream that refuses
// connections returns a client that is not mounted (Root nil, Up false,
// calls ErrNotMounted) and retries the MNT on its clock; once a server
// listens there, the next attempt mounts it and calls go through.
func TestStartRetriesMountInBackground(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now: connections are refused
	clk := clockwork.NewFakeClock()
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), await.Deadline)
	defer cancel()
	c, err := Start(ctx, Options{Server: "127.0.0.1", Export: "/export", NFSPort: port, MountPort: port,
		UnprivilegedPort: true, Clock: clk, MountRetryMin: time.Second, MountRetryMax: 4 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("Start with a refused upstream: %v; want a client retrying in the background", err)
	}
	defer c.Close()
	if c.Root() != nil || c.Up() {
		t.Fatalf("before the mount: Root %x, Up %v; want nil, false", c.Root(), c.Up())
	}
	if _, err := c.Getattr(ctx, &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}}); !errors.Is(err, ErrNotMounted) {
		t.Fatalf("GETATTR before the mount: %v; want ErrNotMounted", err)
	}
	// A retry that still finds nothing: the backoff doubles.
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := clk.BlockUntilContext(ctx, 1); err != nil { // the second wait, after a failed attempt
		t.Fatal(err)
	}
	select {
	case <-c.Mounted():
		t.Fatal("mounted with nothing listening")
	default:
	}

	d, err := demoserver.Start(t.TempDir(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	clk.Advance(2 * time.Second)
	select {
	case <-c.Mounted():
	case <-ctx.Done():
		t.Fatal("not mounted after the server came up")
	}
	if c.Root() == nil {
		t.Fatal("Root nil after Mounted")
	}
	if _, err := c.Getattr(ctx, &cred, &nfs3.GetattrArgs{Object: c.Root()}); err != nil {
		t.Fatalf("GETATTR after the mount: %v", err)
	}
	await.Until(t, "Up after the mount", c.Up)
	if a, b := logs.count("upstream unreachable at start"), logs.count("upstream up again"); a != 1 || b != 1 {
		t.Fatalf("log: %d 'unreachable at start', %d 'up again' lines; want one each", a, b)
	}
}
