package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
)

func libnfs(t *testing.T, tool string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, errOut, err := harness.RunLibNFS(ctx, tool, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, errOut)
	}
	return string(out)
}

// TestLibNFSThroughProxy drives the proxy with libnfs-utils: copy in, list,
// read back, and check the bytes on the upstream's disk.
func TestLibNFSThroughProxy(t *testing.T) {
	e := startEnv(t)
	src := filepath.Join(t.TempDir(), "src.bin")
	data := make([]byte, 3<<20+123)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	libnfs(t, "nfs-cp", src, e.url("/copied.bin"))
	onDisk, err := os.ReadFile(filepath.Join(e.g.Dir, "copied.bin"))
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("upstream copy: err %v, equal %v; want the bytes written through the proxy", err, bytes.Equal(onDisk, data))
	}
	if err := os.WriteFile(filepath.Join(e.g.Dir, "local.txt"), []byte("written on the server\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := libnfs(t, "nfs-cat", e.url("/local.txt")); got != "written on the server\n" {
		t.Fatalf("nfs-cat = %q; want the upstream file", got)
	}
	back := filepath.Join(t.TempDir(), "back.bin")
	libnfs(t, "nfs-cp", e.url("/copied.bin"), back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatal("nfs-cp out of the proxy: bytes differ")
	}
	ls := libnfs(t, "nfs-ls", e.url("/"))
	for _, name := range []string{"copied.bin", "local.txt"} {
		if !strings.Contains(ls, name) {
			t.Fatalf("nfs-ls output lacks %s:\n%s", name, ls)
		}
	}
	if !strings.Contains(ls, "3145851") {
		t.Fatalf("nfs-ls does not show the size 3145851 of copied.bin:\n%s", ls)
	}
}

// TestGoNFSClientThroughProxy uses go-nfs-client, an independent client
// implementation, for a write/read/mkdir/list/remove round.
func TestGoNFSClientThroughProxy(t *testing.T) {
	e := startEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tg, err := harness.DialNFS(ctx, e.addr, e.addr, "/export", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if _, err := tg.Mkdir("dir", 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	wr, err := tg.OpenFile("dir/file", 0o644)
	if err != nil {
		t.Fatalf("open for write: %v", err)
	}
	data := make([]byte, 1<<20+17)
	rand.Read(data)
	if _, err := wr.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	wr.Close()
	rd, err := tg.Open("dir/file")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	got, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: err %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, data))
	}
	entries, err := tg.ReadDirPlus("dir")
	if err != nil {
		t.Fatalf("readdirplus: %v", err)
	}
	found := false
	for _, en := range entries {
		if en.Name() == "file" && en.Size() == int64(len(data)) {
			found = true
		}
	}
	if !found {
		t.Fatalf("listing of dir lacks file of size %d", len(data))
	}
	if err := tg.Remove("dir/file"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := tg.RmDir("dir"); err != nil {
		t.Fatalf("rmdir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.g.Dir, "dir")); !os.IsNotExist(err) {
		t.Fatalf("dir still on the upstream: %v", err)
	}
}
