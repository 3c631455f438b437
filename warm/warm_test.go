package warm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recording is a Client that remembers the names it looked up.
type recording struct {
	*upstream.Client
	names []string
}

func (r *recording) Lookup(ctx context.Context, cred *rpc.Cred, a *nfs3.LookupArgs) (*nfs3.LookupRes, error) {
	r.names = append(r.names, a.What.Name)
	return r.Client.Lookup(ctx, cred, a)
}

// serve exports a temporary tree: tree/a (3 bytes), tree/sub/b (2 MiB + 1,
// more than one READ), tree/sub/empty (0 bytes), and dials it.
func serve(t *testing.T) *recording {
	t.Helper()
	dir := t.TempDir()
	for name, size := range map[string]int{"tree/a": 3, "tree/sub/b": 2<<20 + 1, "tree/sub/empty": 0} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := demoserver.Start(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := upstream.Dial(t.Context(), upstream.Options{Server: "127.0.0.1", Export: "/export", NFSPort: d.Port(), MountPort: d.Port(), UnprivilegedPort: true, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &recording{Client: c}
}

func TestWalkTree(t *testing.T) {
	c := serve(t)
	var reported int64
	w := Walker{C: c, Cred: rpc.Cred{Flavor: rpc.AuthSys}, OnBytes: func(n int64) { reported += n }}
	fh, err := w.Resolve(t.Context(), "tree")
	if err != nil {
		t.Fatalf("Resolve(tree): %v", err)
	}
	if err := w.Walk(t.Context(), fh, "tree"); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	want := int64(3 + 2<<20 + 1)
	if w.Files != 3 || w.Bytes != want || reported != want {
		t.Errorf("got %d files, %d bytes, %d reported; want 3 files, %d bytes reported", w.Files, w.Bytes, reported, want)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		path  string
		names []string
		err   error
	}{
		{"tree/sub/b", []string{"tree", "sub", "b"}, nil},
		{"/tree//sub/./b/", []string{"tree", "sub", "b"}, nil},
		{"../../tree/a", []string{"tree", "a"}, nil}, // never ".." above the root
		{"", nil, nil},
		{"tree/missing", []string{"tree", "missing"}, nfs3.StatNoEnt},
	}
	c := serve(t)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c.names = nil
			w := Walker{C: c, Cred: rpc.Cred{Flavor: rpc.AuthSys}}
			_, err := w.Resolve(t.Context(), tt.path)
			if !errors.Is(err, tt.err) {
				t.Errorf("Resolve(%q): got %v; want %v", tt.path, err, tt.err)
			}
			if len(c.names) != len(tt.names) {
				t.Fatalf("Resolve(%q) looked up %q; want %q", tt.path, c.names, tt.names)
			}
			for i := range c.names {
				if c.names[i] != tt.names[i] {
					t.Fatalf("Resolve(%q) looked up %q; want %q", tt.path, c.names, tt.names)
				}
			}
		})
	}
}
