package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestHandlesSurviveRestart: a client keeps using its handles after the
// proxy restarts, and a second proxy instance hands out identical handles.
func TestHandlesSurviveRestart(t *testing.T) {
	e := startEnv(t)
	if err := os.MkdirAll(filepath.Join(e.g.Dir, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.g.Dir, "a/b/file"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.proxyClient(0, 0)
	a := c.mustLookup(c.root(), "a")
	b := c.mustLookup(a, "b")
	f := c.mustLookup(b, "file")
	root := append(nfs3.FH(nil), c.root()...)

	// A second instance, independent, in front of the same upstream.
	second := &env{t: t, g: e.g}
	second.startProxy("127.0.0.1:0")
	c2 := second.proxyClient(0, 0)
	if !bytes.Equal(c2.root(), root) {
		t.Fatalf("root handles differ between instances: %x vs %x", c2.root(), root)
	}
	f2 := c2.mustLookup(c2.mustLookup(c2.mustLookup(c2.root(), "a"), "b"), "file")
	if !bytes.Equal(f2, f) {
		t.Fatalf("file handles differ between instances: %x vs %x", f2, f)
	}
	// Handles from one instance work on the other.
	if got := c2.readAll(f); string(got) != "content" {
		t.Fatalf("instance 2 reading instance 1's handle: %q", got)
	}

	// Restart the first proxy on the same port; the old client's handles
	// (its connection reconnects) still work.
	addr := e.addr
	e.close()
	e.startProxy(addr)
	if got := c.readAll(f); string(got) != "content" {
		t.Fatalf("after restart, read through old handle: %q; want content", got)
	}
	if attr, st := c.getattr(b); st != nfs3.StatOK || attr.Type != nfs3.TypeDir {
		t.Fatalf("after restart, getattr of old dir handle: %v %v", st, attr.Type)
	}
	// Renaming on the server does not break the handle: it names the
	// object, not the path.
	if err := os.Rename(filepath.Join(e.g.Dir, "a/b/file"), filepath.Join(e.g.Dir, "a/moved")); err != nil {
		t.Fatal(err)
	}
	if got := c.readAll(f); string(got) != "content" {
		t.Fatalf("after server-side rename: %q; want content", got)
	}
}
