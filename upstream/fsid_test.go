package upstream

import (
	"context"
	"errors"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestRootFSID: the probe GETATTRs the mounted root with the proxy's own
// identity and returns its fsid; an error status or a client not mounted
// yet is an error.
func TestRootFSID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  nfs3.Stat
		want    uint64
		wantErr error
	}{
		{"ok", nfs3.StatOK, 0x2a, nil},
		{"stale root", nfs3.StatStale, 0, nfs3.StatStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotFH []byte
			var gotUID uint32 = 99
			s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
				var a nfs3.GetattrArgs
				if h.Proc != nfs3.ProcGetattr || a.Decode(xdr.NewReader(args)) != nil {
					return false
				}
				gotFH, gotUID = append([]byte(nil), a.Object...), h.Cred.UID
				rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
				(&nfs3.GetattrRes{Status: tc.status, Attr: nfs3.Fattr3{Type: nfs3.TypeDir, FSID: 0x2a}}).Encode(w)
				return true
			})
			c := dialFake(t, s, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), await.Deadline)
			defer cancel()
			got, err := c.RootFSID(ctx)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("RootFSID = %#x, %v; want %#x, %v", got, err, tc.want, tc.wantErr)
			}
			if string(gotFH) != string(c.Root()) || gotUID != 0 {
				t.Fatalf("GETATTR of %x as uid %d; want the root %x as uid 0", gotFH, gotUID, c.Root())
			}
		})
	}
}

// TestRootFSIDNotMounted: before the mount there is no root to ask about.
func TestRootFSIDNotMounted(t *testing.T) {
	c, err := newClient(Options{Server: "127.0.0.1", Export: "/x", NFSPort: 1, MountPort: 1, UnprivilegedPort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.RootFSID(context.Background()); !errors.Is(err, ErrNotMounted) {
		t.Fatalf("RootFSID before the mount: %v; want ErrNotMounted", err)
	}
}
