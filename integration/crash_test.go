package integration

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// binDir holds the binary buildBinary builds; TestMain removes it.
var binDir string

// buildBinary builds cmd/nfscacheproxy once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nfscacheproxy-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "nfscacheproxy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nfscacheproxy/nfscacheproxy/cmd/nfscacheproxy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// buildBenchBinary builds cmd/nfscacheproxy-bench (the benchmark and soak
// driver) once per test binary run, beside the proxy binary.
var buildBenchBinary = sync.OnceValues(func() (string, error) {
	proxyBin, err := buildBinary()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(filepath.Dir(proxyBin), "nfscacheproxy-bench")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nfscacheproxy/nfscacheproxy/cmd/nfscacheproxy-bench").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proxyProcess is the real binary serving in front of ganesha.
type proxyProcess struct {
	cmd  *exec.Cmd
	port int
	log  *lockedBuffer // read while the process still writes
}

func freeLoopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBinary runs `nfscacheproxy serve` on port with extra flags and waits
// until it answers MNT.
func startBinary(t *testing.T, g *harness.Ganesha, port int, extra ...string) *proxyProcess {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--upstream", g.Host + ":" + g.Export,
		"--upstream-nfs-port", strconv.Itoa(g.NFSPort), "--upstream-mount-port", strconv.Itoa(g.MountPort),
		"--listen", "127.0.0.1:" + strconv.Itoa(port), "--metrics-listen", "", "--upstream-unprivileged-port"}, extra...)
	cmd := exec.Command(bin, args...)
	p := &proxyProcess{cmd: cmd, port: port, log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	err = nil
	if !await.Poll(await.Deadline, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = harness.MountRoot(ctx, "127.0.0.1:"+strconv.Itoa(port), "/export")
		return err == nil
	}) {
		t.Fatalf("proxy did not answer MNT within %v: %v\n%s", await.Deadline, err, p.log)
	}
	return p
}

// TestKill9WhileFilling: the proxy is killed with SIGKILL while many
// clients fill its cache; after a restart on the same cache directory every
// byte read through it equals the upstream's, and handles from before the
// crash still work.
func TestKill9WhileFilling(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	const files = 24
	want := make([][]byte, files)
	for i := range want {
		want[i] = randomFile(t, filepath.Join(g.Dir, fmt.Sprintf("f%02d", i)), 600_000+i*37_000)
	}
	cacheDir := t.TempDir()
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	p := startBinary(t, g, port, "--cache-dir", cacheDir, "--metrics-listen", "127.0.0.1:"+strconv.Itoa(mport))

	c := dialClient(t, "127.0.0.1", port, port, 0, 0)
	fhs := make([]nfs3.FH, files)
	for i := range fhs {
		fhs[i] = c.mustLookup(c.root(), fmt.Sprintf("f%02d", i))
	}
	// Readers fill the cache; the kill lands in the middle.
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Short-lived clients without retries: the kill ends them.
			for i := w; i < files; i += 4 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cc, err := dialNoFail("127.0.0.1", port)
				if err != nil {
					cancel()
					return
				}
				for off := 0; off < len(want[i]); off += 1 << 18 {
					if _, err := cc.Read(ctx, &c.cred, &nfs3.ReadArgs{File: fhs[i], Offset: uint64(off), Count: 1 << 18}); err != nil {
						break
					}
				}
				cc.Close()
				cancel()
			}
		}(w)
	}
	// The crash point: granules have been stored and READs are still being
	// served (so more fills are under way) when the kill lands.
	var fills, inFlight float64
	await.Until(t, "a stored granule and a READ in flight", func() bool {
		_, body := scrape(t, "http://127.0.0.1:"+strconv.Itoa(mport)+"/metrics")
		fills, inFlight = sample(body, "nfscacheproxy_store_fills_total"), sample(body, "nfscacheproxy_requests_in_flight")
		return fills >= 1 && inFlight >= 1
	})
	t.Logf("kill -9 with %v granules stored and %v requests in flight", fills, inFlight)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	wg.Wait()

	startBinary(t, g, port, "--cache-dir", cacheDir)
	after := dialClient(t, "127.0.0.1", port, port, 0, 0)
	for i := range fhs {
		if got := after.readAll(fhs[i]); !bytes.Equal(got, want[i]) {
			t.Fatalf("file f%02d after kill -9 and restart: %d bytes, equal %v", i, len(got), bytes.Equal(got, want[i]))
		}
	}
	// Twice: the second pass is served from what survived and was refilled.
	for i := range fhs {
		if got := after.readAll(fhs[i]); !bytes.Equal(got, want[i]) {
			t.Fatalf("file f%02d second pass differs", i)
		}
	}
}

// TestCorruptGranuleRefetched: bytes of a cached object flipped on disk
// are detected by their checksum and fetched again.
func TestCorruptGranuleRefetched(t *testing.T) {
	e := startEnvWith(t, envOptions{cacheDir: "temp"})
	data := randomFile(t, filepath.Join(e.g.Dir, "f"), 1<<20)
	c := e.proxyClient(0, 0)
	fh := c.mustLookup(c.root(), "f")
	c.readAll(fh)
	e.close() // clean stop: records written, descriptors closed
	var objects []string
	filepath.WalkDir(filepath.Join(e.opts.cacheDir, "cache"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".rec") {
			objects = append(objects, p)
		}
		return nil
	})
	if len(objects) != 1 {
		t.Fatalf("found %d cache objects; want 1: %v", len(objects), objects)
	}
	f, err := os.OpenFile(objects[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 400_000)
	b[0] ^= 0xff
	f.WriteAt(b, 400_000)
	f.Close()

	e.startProxy("127.0.0.1:" + strconv.Itoa(e.port))
	c = e.proxyClient(0, 0)
	if got := c.readAll(fh); !bytes.Equal(got, data) {
		t.Fatal("served corrupted bytes")
	}
	if st := e.store.Stats(); st.ChecksumFailures == 0 {
		t.Fatalf("cache stats %+v; want a checksum failure counted", st)
	}
}
