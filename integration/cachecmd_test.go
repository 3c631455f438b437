package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
)

// TestCacheSubcommands: `cache warm` fills a running proxy's cache through
// it, `cache stats` sees the objects beside the running proxy, and with
// the proxy stopped `cache check` finds nothing wrong and `cache cull`
// empties it.
func TestCacheSubcommands(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	os.MkdirAll(filepath.Join(g.Dir, "tree/sub"), 0o755)
	for i := 0; i < 5; i++ {
		randomFile(t, filepath.Join(g.Dir, fmt.Sprintf("tree/sub/f%d", i)), 300_000)
	}
	randomFile(t, filepath.Join(g.Dir, "tree/top"), 100_000)
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	p := startBinary(t, g, port, "--cache-dir", dir)

	out := run("cache", "warm", "tree", "--proxy", "127.0.0.1:"+strconv.Itoa(port), "-o", "json")
	var warmed struct{ Files, Bytes int64 }
	if err := json.Unmarshal([]byte(out), &warmed); err != nil || warmed.Files != 6 || warmed.Bytes != 1600000 {
		t.Fatalf("cache warm: %q; want 6 files, 1600000 bytes", out)
	}
	out = run("cache", "stats", "--dir", dir, "-o", "json")
	if totalObjects(t, out) != 6 {
		t.Fatalf("cache stats beside the running proxy:\n%s\nwant 6 objects", out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("proxy exit after SIGTERM: %v\n%s", err, p.log)
	}
	out = run("cache", "check", "--dir", dir)
	if !strings.Contains(out, "objects 6,") || !strings.Contains(out, "bad records 0, bad granules 0") {
		t.Fatalf("cache check: %q", out)
	}
	out = run("cache", "cull", "--dir", dir, "--to", "0")
	if !strings.Contains(out, "culled 6 objects") {
		t.Fatalf("cache cull --to 0: %q", out)
	}
	if out = run("cache", "stats", "--dir", dir); !strings.Contains(out, "graveyard: 0 entries") || totalObjects(t, run("cache", "stats", "--dir", dir, "-o", "json")) != 0 {
		t.Fatalf("cache stats after cull:\n%s\nwant 0 objects and an empty graveyard", out)
	}
}

// totalObjects reads the total objects of `cache stats -o json`.
func totalObjects(t *testing.T, out string) int64 {
	t.Helper()
	var st struct{ Objects int64 }
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("cache stats -o json: %v\n%s", err, out)
	}
	return st.Objects
}

// TestInvalidateCommand: on a static volume an upstream change stays
// invisible until `cache invalidate` tells the running proxy, over its
// admin socket, to drop its cached metadata; the metrics listener refuses
// the request.
func TestInvalidateCommand(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	os.WriteFile(filepath.Join(g.Dir, "f"), []byte("one"), 0o644)
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	startBinary(t, g, port, "--coherency", "static", "--metrics-listen", "127.0.0.1:"+strconv.Itoa(mport), "--admin-socket", sock)
	c := dialClient(t, "127.0.0.1", port, port, 0, 0)
	fh := c.mustLookup(c.root(), "f")
	if a, _ := c.getattr(fh); a.Size != 3 {
		t.Fatalf("size %d; want 3", a.Size)
	}
	os.WriteFile(filepath.Join(g.Dir, "f"), []byte("second"), 0o644)
	if a, _ := c.getattr(fh); a.Size != 3 {
		t.Fatalf("static volume before invalidation: size %d; want the cached 3", a.Size)
	}
	// The metrics listener is read-only: it refuses the invalidation.
	resp, err := http.Post("http://127.0.0.1:"+strconv.Itoa(mport)+"/admin/invalidate", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /admin/invalidate on the metrics listener: %s; want 404 or 405", resp.Status)
	}
	if a, _ := c.getattr(fh); a.Size != 3 {
		t.Fatalf("after a POST to the metrics listener: size %d; want the cached 3", a.Size)
	}
	out, err := exec.Command(bin, "cache", "invalidate", "--socket", sock, "--volume", "1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "invalidated 1 volume") {
		t.Fatalf("cache invalidate: %v %s", err, out)
	}
	if a, _ := c.getattr(fh); a.Size != 6 {
		t.Fatalf("after invalidation: size %d; want 6", a.Size)
	}
	if out, err := exec.Command(bin, "cache", "invalidate", "--socket", sock, "--volume", "9").CombinedOutput(); err == nil {
		t.Fatalf("invalidate of an unknown volume succeeded: %s", out)
	}
}
