package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestCredentialsReachUpstream: a 0600 file owned by uid 1000 reads through
// the proxy as uid 1000 and is refused (ACCES) to uid 1001, with our RPC
// client and with libnfs.
func TestCredentialsReachUpstream(t *testing.T) {
	e := startEnv(t)
	p := filepath.Join(e.g.Dir, "private")
	if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	owner := e.proxyClient(1000, 1000)
	other := e.proxyClient(1001, 1001)
	fh := owner.mustLookup(owner.root(), "private")
	if got := owner.read(fh, 0, 100); got.Status != nfs3.StatOK || string(got.Data) != "secret" {
		t.Fatalf("uid 1000 read: %v %q; want OK secret", got.Status, got.Data)
	}
	if got := other.read(fh, 0, 100); got.Status != nfs3.StatAcces {
		t.Fatalf("uid 1001 read: %v; want NFS3ERR_ACCES", got.Status)
	}
	ac, err := other.c.Access(other.ctx, &other.cred, &nfs3.AccessArgs{Object: fh, Access: nfs3.AccessRead})
	if err != nil || ac.Status != nfs3.StatOK || ac.Access&nfs3.AccessRead != 0 {
		t.Fatalf("uid 1001 ACCESS(READ): %v %v granted %#x; want READ not granted", err, ac.Status, ac.Access)
	}
	// Files created through the proxy are owned by the caller.
	fh2, st := owner.create(owner.root(), "mine", 0o644)
	if st != nfs3.StatOK {
		t.Fatalf("create as 1000: %v", st)
	}
	if attr, _ := owner.getattr(fh2); attr.UID != 1000 || attr.GID != 1000 {
		t.Fatalf("created file owned by %d:%d; want 1000:1000", attr.UID, attr.GID)
	}
	fi, err := os.Stat(filepath.Join(e.g.Dir, "mine"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fileUID(fi); uid != 1000 {
		t.Fatalf("on the upstream disk the file is owned by %d; want 1000", uid)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if out, _, err := harness.RunLibNFS(ctx, "nfs-cat", e.urlAs("/private", 1000, 1000)); err != nil || string(out) != "secret" {
		t.Fatalf("nfs-cat as 1000: %v %q", err, out)
	}
	if _, _, err := harness.RunLibNFS(ctx, "nfs-cat", e.urlAs("/private", 1001, 1001)); err == nil {
		t.Fatal("nfs-cat as 1001 succeeded; want permission denied")
	}
}
