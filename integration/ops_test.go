package integration

// Operations features, each through the real binary: several volumes with
// their own policies from one YAML file, squashing, client networks, the
// SIGTERM drain, the built-in portmapper, and /metrics and /readyz.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"github.com/nfscacheproxy/nfscacheproxy/integration/wanrelay"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// lockedBuffer collects a child's output; the test may read it while the
// child still writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveProc is `nfscacheproxy serve` run by a test.
type serveProc struct {
	cmd    *exec.Cmd
	addr   string // NFS and MOUNT, 127.0.0.1:port
	port   int
	log    *lockedBuffer
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, valid after exited
}

// startServe runs `nfscacheproxy serve args...` and waits until the NFS
// program answers NULL on 127.0.0.1:port (the process listens only once
// every volume's upstream is dialled). The process is killed at cleanup if
// the test has not stopped it.
func startServe(t *testing.T, port int, args ...string) *serveProc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{addr: "127.0.0.1:" + strconv.Itoa(port), port: port, log: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	err = nil
	exited := false
	if !await.Poll(await.Deadline, func() bool {
		select {
		case <-p.exited:
			exited = true
			return true
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err = harness.PingRPC(ctx, p.addr, nfs3.Program, 3)
		return err == nil
	}) {
		t.Fatalf("proxy did not answer NFS NULL within %v: %v\n%s", await.Deadline, err, p.log)
	}
	if exited {
		t.Fatalf("nfscacheproxy serve exited during start-up: %v\n%s", p.err, p.log)
	}
	return p
}

// writeConfig writes a YAML configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// volumeYAML is one `volumes:` entry over ganesha g; extra lines are
// indented under it.
func volumeYAML(id int, name string, g *harness.Ganesha, extra ...string) string {
	s := fmt.Sprintf("  - id: %d\n    name: %s\n    upstream: %s:%s\n    nfs_port: %d\n    mount_port: %d\n",
		id, name, g.Host, g.Export, g.NFSPort, g.MountPort)
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

// dialVolume is dialClient for the volume mounted at name.
func dialVolume(t *testing.T, addr, name string, uid, gid uint32) *nfsClient {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := upstream.Dial(ctx, upstream.Options{Server: host, Export: name, NFSPort: port, MountPort: port, UnprivilegedPort: true, Conns: 1})
	if err != nil {
		t.Fatalf("dial %s volume %s: %v", addr, name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &nfsClient{t: t, c: c, cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: "itest", UID: uid, GID: gid}, ctx: context.Background()}
}

// handleVolume is the volume id in a proxy handle's header.
func handleVolume(fh nfs3.FH) int {
	if len(fh) < 4 {
		return -1
	}
	return int(fh[2])<<8 | int(fh[3])
}

// fileOwner is the uid and gid of path on the upstream's disk.
func fileOwner(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// cacheVolumes runs `cache stats --dir -o json` and returns objects per volume key.
func cacheVolumes(t *testing.T, dir string) (map[string]int, string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "cache", "stats", "--dir", dir, "-o", "json").Output()
	if err != nil {
		t.Fatalf("cache stats --dir %s: %v\n%s", dir, err, out)
	}
	var st struct {
		Volumes []struct {
			Key     string
			Objects int
		}
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("cache stats -o json: %v\n%s", err, out)
	}
	vols := map[string]int{}
	for _, v := range st.Volumes {
		vols[v.Key] = v.Objects
	}
	return vols, string(out)
}

// TestTwoVolumesIndependentPolicies: one proxy, configured by a YAML file,
// serves two volumes over two ganesha instances. Each volume reaches its
// own upstream and hands out handles carrying its own id; the shared data
// cache keeps the volumes' objects apart (two volume keys in `cache
// stats`); volume A is read-only (WRITE, CREATE, MKDIR get NFS3ERR_ROFS and
// nothing reaches its disk) while B accepts changes; A is static (an
// upstream change stays invisible) while B is cto (seen on the next
// GETATTR).
func TestTwoVolumesIndependentPolicies(t *testing.T) {
	ga := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	gb := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	for _, f := range []struct {
		dir, name, text string
	}{{ga.Dir, "a.txt", "volume A\n"}, {gb.Dir, "b.txt", "volume B\n"}} {
		// World-writable, so only the volume's policy can refuse a WRITE.
		if err := os.WriteFile(filepath.Join(f.dir, f.name), []byte(f.text), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(f.dir, f.name), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	cacheDir := t.TempDir()
	port := freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"\"}\ncache: {dir: %s}\nupstream: {unprivileged_port: true}\nvolumes:\n", port, cacheDir)+
		volumeYAML(21, "/vola", ga, "read_only: true", "coherency: {mode: static}")+
		volumeYAML(22, "/volb", gb, "coherency: {mode: cto}"))
	p := startServe(t, port, "--config", cfg)

	a := dialVolume(t, p.addr, "/vola", 1000, 1000)
	b := dialVolume(t, p.addr, "/volb", 1000, 1000)
	if got := handleVolume(a.root()); got != 21 {
		t.Fatalf("root handle of /vola carries volume %d; want 21", got)
	}
	if got := handleVolume(b.root()); got != 22 {
		t.Fatalf("root handle of /volb carries volume %d; want 22", got)
	}
	// Each volume is its own upstream.
	afh, bfh := a.mustLookup(a.root(), "a.txt"), b.mustLookup(b.root(), "b.txt")
	if _, st := a.lookup(a.root(), "b.txt"); st != nfs3.StatNoEnt {
		t.Fatalf("LOOKUP b.txt in /vola: %v; want NFS3ERR_NOENT", st)
	}
	if got := string(a.readAll(afh)); got != "volume A\n" {
		t.Fatalf("read /vola/a.txt: %q; want %q", got, "volume A\n")
	}
	if got := string(b.readAll(bfh)); got != "volume B\n" {
		t.Fatalf("read /volb/b.txt: %q; want %q", got, "volume B\n")
	}

	// One cache directory, one volume key per volume.
	vols, out := cacheVolumes(t, cacheDir)
	if len(vols) != 2 {
		t.Fatalf("cache stats lists %d volumes; want 2 (ids 21, 22):\n%s", len(vols), out)
	}
	for key, n := range vols {
		if !strings.HasSuffix(key, ",21") && !strings.HasSuffix(key, ",22") {
			t.Errorf("cache volume key %q; want one ending in the volume id 21 or 22", key)
		}
		if n != 1 {
			t.Errorf("cache volume %s holds %d objects; want 1 (the one file read from it)", key, n)
		}
	}

	// Read-only A refuses every change; B accepts them.
	if res := a.write(afh, 0, []byte("overwritten"), nfs3.FileSync); res.Status != nfs3.StatROFS {
		t.Errorf("WRITE in read-only /vola: %v; want NFS3ERR_ROFS", res.Status)
	}
	if _, st := a.create(a.root(), "new", 0o644); st != nfs3.StatROFS {
		t.Errorf("CREATE in read-only /vola: %v; want NFS3ERR_ROFS", st)
	}
	if _, st := a.mkdir(a.root(), "newdir"); st != nfs3.StatROFS {
		t.Errorf("MKDIR in read-only /vola: %v; want NFS3ERR_ROFS", st)
	}
	if data, _ := os.ReadFile(filepath.Join(ga.Dir, "a.txt")); string(data) != "volume A\n" {
		t.Errorf("upstream A's a.txt is %q after the refused WRITE; want it unchanged", data)
	}
	for _, name := range []string{"new", "newdir"} {
		if _, err := os.Lstat(filepath.Join(ga.Dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("upstream A has %s after the refused change (%v); want nothing", name, err)
		}
	}
	nfh, st := b.create(b.root(), "new", 0o644)
	if st != nfs3.StatOK {
		t.Fatalf("CREATE in /volb: %v; want NFS3_OK", st)
	}
	if res := b.write(nfh, 0, []byte("written via B"), nfs3.FileSync); res.Status != nfs3.StatOK {
		t.Fatalf("WRITE in /volb: %v; want NFS3_OK", res.Status)
	}
	if data, err := os.ReadFile(filepath.Join(gb.Dir, "new")); err != nil || string(data) != "written via B" {
		t.Fatalf("upstream B's new file: %q %v; want %q", data, err, "written via B")
	}

	// Coherency: change both files behind the proxy's back.
	if attr, _ := a.getattr(afh); attr.Size != 9 {
		t.Fatalf("GETATTR /vola/a.txt: size %d; want 9", attr.Size)
	}
	if attr, _ := b.getattr(bfh); attr.Size != 9 {
		t.Fatalf("GETATTR /volb/b.txt: size %d; want 9", attr.Size)
	}
	const longer = "changed on the upstream\n"
	os.WriteFile(filepath.Join(ga.Dir, "a.txt"), []byte(longer), 0o666)
	os.WriteFile(filepath.Join(gb.Dir, "b.txt"), []byte(longer), 0o666)
	if attr, st := b.getattr(bfh); st != nfs3.StatOK || attr.Size != uint64(len(longer)) {
		t.Errorf("cto /volb after an upstream change: GETATTR %v size %d; want size %d at once", st, attr.Size, len(longer))
	}
	if attr, st := a.getattr(afh); st != nfs3.StatOK || attr.Size != 9 {
		t.Errorf("static /vola after an upstream change: GETATTR %v size %d; want the cached 9", st, attr.Size)
	}
}

// TestSquash: files created through the proxy are owned on the upstream's
// disk by the identity the volume's squash settings give the caller: the
// default (no squash section: root squashed to 65534) maps uid 0 but not
// uid 1000; root: false keeps uid 0; all: true maps every caller to the
// volume's anon_uid/anon_gid.
func TestSquash(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port := freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", port)+
		volumeYAML(31, "/default", g)+
		volumeYAML(32, "/noroot", g, "squash: {root: false}")+
		volumeYAML(33, "/all", g, "squash: {all: true, anon_uid: 4242, anon_gid: 4343}"))
	p := startServe(t, port, "--config", cfg)

	for _, tc := range []struct {
		volume           string
		uid, gid         uint32
		wantUID, wantGID uint32
	}{
		{"/default", 0, 0, 65534, 65534},
		{"/default", 1000, 1000, 1000, 1000},
		{"/noroot", 0, 0, 0, 0},
		{"/noroot", 1000, 1000, 1000, 1000},
		{"/all", 0, 0, 4242, 4343},
		{"/all", 1000, 1000, 4242, 4343},
	} {
		name := fmt.Sprintf("%s-as-%d", strings.TrimPrefix(tc.volume, "/"), tc.uid)
		t.Run(name, func(t *testing.T) {
			c := dialVolume(t, p.addr, tc.volume, tc.uid, tc.gid)
			fh, st := c.create(c.root(), name, 0o644)
			if st != nfs3.StatOK {
				t.Fatalf("CREATE %s as %d:%d: %v", name, tc.uid, tc.gid, st)
			}
			if uid, gid := fileOwner(t, filepath.Join(g.Dir, name)); uid != tc.wantUID || gid != tc.wantGID {
				t.Errorf("on the upstream's disk %s is owned by %d:%d; want %d:%d", name, uid, gid, tc.wantUID, tc.wantGID)
			}
			if attr, _ := c.getattr(fh); attr.UID != tc.wantUID || attr.GID != tc.wantGID {
				t.Errorf("GETATTR through the proxy: owner %d:%d; want %d:%d", attr.UID, attr.GID, tc.wantUID, tc.wantGID)
			}
		})
	}
}

// dialRPCFrom is dialRPC from a chosen local address.
func dialRPCFrom(t *testing.T, local, addr string) *rpcConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, local, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rpcConn{t: t, nc: nc}
}

// TestClientNetworks: a volume limited to clients 127.0.0.2/32 refuses MNT
// from 127.0.0.1 (MNT3ERR_ACCES) and grants it from 127.0.0.2; the handle
// obtained there is NFS3ERR_ACCES for GETATTR from 127.0.0.1 and works
// from 127.0.0.2. An unrestricted volume of the same proxy still serves
// 127.0.0.1.
func TestClientNetworks(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port := freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", port)+
		volumeYAML(41, "/restricted", g, `clients: ["127.0.0.2/32"]`)+
		volumeYAML(42, "/open", g))
	p := startServe(t, port, "--config", cfg)

	one := dialRPCFrom(t, "127.0.0.1", p.addr)
	two := dialRPCFrom(t, "127.0.0.2", p.addr)
	var mnt nfs3.MntRes
	if err := one.call(1, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/restricted"}, &mnt); err != nil || mnt.Status != nfs3.MountErrAcces {
		t.Fatalf("MNT /restricted from 127.0.0.1: %v %v; want MNT3ERR_ACCES", err, mnt.Status)
	}
	mnt = nfs3.MntRes{}
	if err := two.call(2, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/restricted"}, &mnt); err != nil || mnt.Status != nfs3.MountOK {
		t.Fatalf("MNT /restricted from 127.0.0.2: %v %v; want MNT3_OK", err, mnt.Status)
	}
	root := nfs3.FH(bytes.Clone(mnt.FH))
	var ga nfs3.GetattrRes
	if err := one.call(3, nfs3.Program, 3, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: root}, &ga); err != nil || ga.Status != nfs3.StatAcces {
		t.Fatalf("GETATTR of the /restricted root from 127.0.0.1: %v %v; want NFS3ERR_ACCES", err, ga.Status)
	}
	ga = nfs3.GetattrRes{}
	if err := two.call(4, nfs3.Program, 3, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: root}, &ga); err != nil || ga.Status != nfs3.StatOK || ga.Attr.Type != nfs3.TypeDir {
		t.Fatalf("GETATTR of the /restricted root from 127.0.0.2: %v %v type %v; want NFS3_OK, a directory", err, ga.Status, ga.Attr.Type)
	}
	mnt = nfs3.MntRes{}
	if err := one.call(5, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/open"}, &mnt); err != nil || mnt.Status != nfs3.MountOK {
		t.Fatalf("MNT /open from 127.0.0.1: %v %v; want MNT3_OK", err, mnt.Status)
	}
	ga = nfs3.GetattrRes{}
	if err := one.call(6, nfs3.Program, 3, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: nfs3.FH(bytes.Clone(mnt.FH))}, &ga); err != nil || ga.Status != nfs3.StatOK {
		t.Fatalf("GETATTR of the /open root from 127.0.0.1: %v %v; want NFS3_OK", err, ga.Status)
	}
}

// TestSIGTERMDrainsInFlight: a READ is on its way to a slow upstream (a
// WAN relay adds 2 s each way) when the proxy gets SIGTERM. New
// connections are refused at once while the READ is still in flight; the
// READ then gets its full, correct reply and the process exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	data := randomFile(t, filepath.Join(g.Dir, "f"), 200_000)
	relay, err := wanrelay.Start(wanrelay.Options{Target: g.NFSAddr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	p := startServe(t, port, "--upstream", g.Host+":"+g.Export,
		"--upstream-nfs-port", strconv.Itoa(relay.Port()), "--upstream-mount-port", strconv.Itoa(g.MountPort),
		"--listen", "127.0.0.1:"+strconv.Itoa(port), "--metrics-listen", "127.0.0.1:"+strconv.Itoa(mport),
		"--upstream-unprivileged-port", "--drain-timeout", "60s")

	c := dialClient(t, "127.0.0.1", port, port, 0, 0)
	fh := c.mustLookup(c.root(), "f")
	// The relay's delay keeps the READ in flight (its reply is 2×delay
	// away) while the test sends SIGTERM and sees new connections refused;
	// it is long so that a busy machine still fits all that in.
	const delay = 5 * time.Second
	relay.SetDelay(delay)

	type result struct {
		res *nfs3.ReadRes
		err error
		at  time.Time
	}
	readc := make(chan result, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := c.c.Read(ctx, &c.cred, &nfs3.ReadArgs{File: fh, Count: uint32(len(data))})
		readc <- result{res, err, time.Now()}
	}()
	// The READ is in flight: the proxy counts it and the relay holds bytes
	// it sent upstream (the reply is about 2×delay away). Relay bytes alone
	// are not enough: about one run in ten they came from other upstream
	// traffic while our READ had not yet left the client, and SIGTERM then
	// rightly found nothing to drain.
	inFlight := func() float64 {
		_, body := scrape(t, "http://127.0.0.1:"+strconv.Itoa(mport)+"/metrics")
		return sample(body, "nfscacheproxy_requests_in_flight")
	}
	await.Until(t, "the READ in flight upstream (requests_in_flight >= 1, bytes held by the relay)", func() bool {
		if len(readc) > 0 {
			t.Fatalf("the READ finished before it was seen in flight (requests_in_flight %v, relay %+v)", inFlight(), relay.Stats())
		}
		return inFlight() >= 1 && relay.Stats().Buffered > 0
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termAt := time.Now()

	// New connections are refused while the READ is still in flight. A dial
	// racing the listener's close may still connect, or be reset from the
	// accept queue; the next one must be refused.
	await.Until(t, "a new connection refused after SIGTERM", func() bool {
		nc, err := net.DialTimeout("tcp", p.addr, time.Second)
		switch {
		case err == nil:
			nc.Close()
		case errors.Is(err, syscall.ECONNREFUSED):
			return true
		case errors.Is(err, syscall.ECONNRESET):
		default:
			t.Fatalf("dial after SIGTERM: %v; want connection refused", err)
		}
		if len(readc) > 0 {
			t.Fatalf("new connections still accepted %v after SIGTERM, when the READ in flight was answered", time.Since(termAt))
		}
		return false
	})
	refusedAt := time.Now()
	select {
	case r := <-readc:
		t.Fatalf("the READ finished (%v %v) before new connections were refused; cannot tell a drain from a normal reply", r.err, r.res)
	case <-p.exited:
		var r result
		select {
		case r = <-readc:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("the process exited (%v) before the READ in flight was answered; the READ got %v %v\n%s", p.err, r.res, r.err, p.log)
	default:
	}

	var r result
	select {
	case r = <-readc:
	case <-time.After(60 * time.Second):
		t.Fatalf("the READ in flight got no reply\n%s", p.log)
	}
	if r.err != nil {
		t.Fatalf("READ in flight at SIGTERM: %v; want its reply\n%s", r.err, p.log)
	}
	if r.res.Status != nfs3.StatOK || !bytes.Equal(r.res.Data, data) {
		t.Fatalf("READ in flight at SIGTERM: %v, %d bytes (equal %v); want NFS3_OK and the file's %d bytes",
			r.res.Status, len(r.res.Data), bytes.Equal(r.res.Data, data), len(data))
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the process did not exit after draining\n%s", p.log)
	}
	if p.err != nil {
		t.Fatalf("exit after SIGTERM: %v; want status 0\n%s", p.err, p.log)
	}
	t.Logf("SIGTERM %v after the READ started; new connections refused %v later; READ answered %v after SIGTERM; exit 0",
		termAt.Sub(start).Round(time.Millisecond), refusedAt.Sub(termAt).Round(time.Millisecond), r.at.Sub(termAt).Round(time.Millisecond))
}

// lookTool finds an executable, searching the sbin directories root's PATH
// may lack, and fails the test naming the Debian package when it is missing.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return filepath.Join(dir, name)
		}
	}
	t.Fatalf("%s not found: install the Debian package %s", name, pkg)
	return ""
}

// portmapScript runs inside a new network namespace: loopback up, the demo
// with its portmapper on :111 and the proxy on 127.0.0.1:2049, then the
// clients with no port options. Sections start with "=== NAME" and end
// with "=== rc NAME N".
const portmapScript = `
bin=$1 nfsls=$2 rpcinfo=$3 showmount=$4 dir=$5
ip link set lo up || { echo "=== FAIL ip link set lo up"; exit 1; }
"$bin" demo --portmap --listen 127.0.0.1:2049 --metrics-listen "" >"$dir/demo.out" 2>"$dir/demo.err" &
pid=$!
i=0
until grep -q 'Ctrl-C stops' "$dir/demo.out"; do
	i=$((i+1))
	if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
		echo "=== FAIL demo did not come up"; cat "$dir/demo.out" "$dir/demo.err"; kill $pid 2>/dev/null; exit 1
	fi
	sleep 0.1
done
run() {
	name=$1; shift
	echo "=== $name"
	timeout 30 "$@" 2>&1
	echo "=== rc $name $?"
}
run nfs-ls "$nfsls" nfs://127.0.0.1/export
run nfs-ls-D "$nfsls" -D nfs://127.0.0.1
run rpcinfo "$rpcinfo" -p 127.0.0.1
[ -n "$showmount" ] && run showmount "$showmount" -e 127.0.0.1
kill -TERM $pid
wait $pid
echo "=== demo exit $?"
echo "=== demo stdout"; cat "$dir/demo.out"
echo "=== demo stderr"; cat "$dir/demo.err"
`

// sections splits portmapScript's output into name → text and name → rc.
func sections(out string) (text map[string]string, rc map[string]int) {
	text, rc = map[string]string{}, map[string]int{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "=== "); ok {
			if f := strings.Fields(rest); len(f) == 3 && f[0] == "rc" {
				rc[f[1]], _ = strconv.Atoi(f[2])
				cur = ""
				continue
			}
			if f := strings.Fields(rest); len(f) == 3 && f[0] == "demo" && f[1] == "exit" {
				rc["demo"], _ = strconv.Atoi(f[2])
				cur = ""
				continue
			}
			cur = rest
			text[cur] += ""
			continue
		}
		if cur != "" {
			text[cur] += line + "\n"
		}
	}
	return text, rc
}

// TestPortmapNoPortOptions: with the built-in portmapper on port 111 (in a
// network namespace of its own, where no rpcbind holds the port), libnfs
// lists /export and its files and discovers the export with no port
// options, rpcinfo lists the proxy's NFS and MOUNT mappings, showmount (if
// nfs-common is installed) lists the export, and the demo exits 0 on
// SIGTERM.
func TestPortmapNoPortOptions(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	unshare := lookTool(t, "unshare", "util-linux")
	lookTool(t, "ip", "iproute2")
	nfsls := lookTool(t, "nfs-ls", "libnfs-utils")
	rpcinfo := lookTool(t, "rpcinfo", "rpcbind")
	showmount, _ := exec.LookPath("showmount")
	if showmount == "" {
		if _, err := os.Stat("/usr/sbin/showmount"); err == nil {
			showmount = "/usr/sbin/showmount"
		} else {
			t.Log("showmount (nfs-common) not installed: its check is left out; nfs-ls -D checks the export list")
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", "sh", "-c", portmapScript, "sh", bin, nfsls, rpcinfo, showmount, t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("unshare -n script: %v\n%s", err, out)
	}
	text, rc := sections(out)
	if _, ok := rc["nfs-ls"]; !ok {
		t.Fatalf("the script did not get to the clients:\n%s", out)
	}
	check := func(name string, ok bool, want string) {
		t.Helper()
		if rc[name] != 0 || !ok {
			t.Errorf("%s: exit %d; want exit 0 and %s; output:\n%s", name, rc[name], want, text[name])
		}
	}
	check("nfs-ls", strings.Contains(text["nfs-ls"], "hello.txt"), "hello.txt listed")
	check("nfs-ls-D", strings.Contains(text["nfs-ls-D"], "nfs://127.0.0.1/export"), "nfs://127.0.0.1/export listed")
	mapped := map[string]bool{}
	for _, line := range strings.Split(text["rpcinfo"], "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			mapped[strings.Join(f[:4], " ")] = true
		}
	}
	check("rpcinfo", mapped["100000 2 tcp 111"] && mapped["100003 3 tcp 2049"] && mapped["100005 3 tcp 2049"],
		"portmapper v2 on 111, NFS v3 and MOUNT v3 on tcp 2049")
	if showmount != "" {
		check("showmount", strings.Contains(text["showmount"], "/export"), "/export listed")
	}
	if !strings.Contains(text["demo stdout"], "through the proxy twice: ok") {
		t.Errorf("demo self-check did not pass:\n%s", text["demo stdout"])
	}
	if rc["demo"] != 0 {
		t.Errorf("demo exit after SIGTERM: %d; want 0\n%s", rc["demo"], text["demo stderr"])
	}
	if t.Failed() {
		t.Logf("full output:\n%s", out)
	}
}

// scrape GETs url and returns status and body.
func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// sample is the value of the series name{labels} in a Prometheus text
// exposition; labels lists name="value" pairs the series must carry. A
// series that is not there counts as 0 (counters appear on first use).
func sample(body, name string, labels ...string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(","+strings.TrimSuffix(lbls, "}")+",", ","+l+",") {
				match = false
			}
		}
		if match {
			v, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
			return v
		}
	}
	return 0
}

// TestMetricsMoveWithTraffic: /metrics counts client READs, the upstream
// calls and READs they cause and the data cache's misses, fills and hits
// (a second read of the same file, once its granule is stored, is a hit and
// makes no upstream READ); /readyz is 200 while the upstream answers, and
// still 200 once it is stopped, when upstream_up reads 0.
func TestMetricsMoveWithTraffic(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	data := randomFile(t, filepath.Join(g.Dir, "f"), 100_000)
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(mport)
	startServe(t, port, "--upstream", g.Host+":"+g.Export,
		"--upstream-nfs-port", strconv.Itoa(g.NFSPort), "--upstream-mount-port", strconv.Itoa(g.MountPort),
		"--listen", "127.0.0.1:"+strconv.Itoa(port), "--metrics-listen", "127.0.0.1:"+strconv.Itoa(mport),
		"--upstream-unprivileged-port", "--cache-dir", t.TempDir())

	if code, body := scrape(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the upstream up: %d %q; want 200", code, body)
	}
	readyProbed := time.Now()
	c := dialClient(t, "127.0.0.1", port, port, 0, 0)
	fh := c.mustLookup(c.root(), "f")

	type counters struct{ reads, upReads, upCalls, hits, misses, fills float64 }
	get := func() counters {
		_, body := scrape(t, base+"/metrics")
		var upCalls float64
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "nfscacheproxy_upstream_calls_total{") {
				_, v, _ := strings.Cut(line, " ")
				f, _ := strconv.ParseFloat(v, 64)
				upCalls += f
			}
		}
		return counters{
			reads:   sample(body, "nfscacheproxy_requests_total", `proc="read"`),
			upReads: sample(body, "nfscacheproxy_upstream_calls_total", `volume="1"`, `proc="read"`),
			upCalls: upCalls,
			hits:    sample(body, "nfscacheproxy_cache_hits_total"),
			misses:  sample(body, "nfscacheproxy_cache_misses_total"),
			fills:   sample(body, "nfscacheproxy_store_fills_total"),
		}
	}
	readOnce := func() {
		t.Helper()
		res := c.read(fh, 0, 1<<20)
		if res.Status != nfs3.StatOK || !bytes.Equal(res.Data, data) {
			t.Fatalf("READ: %v, %d bytes; want NFS3_OK and the file's %d bytes", res.Status, len(res.Data), len(data))
		}
	}

	before := get()
	readOnce()
	cold := get()
	t.Logf("before: %+v; after a cold READ: %+v", before, cold)
	if cold.reads != before.reads+1 {
		t.Errorf("requests_total{proc=\"read\"}: %v -> %v after one READ; want +1", before.reads, cold.reads)
	}
	if cold.upReads <= before.upReads {
		t.Errorf("upstream_calls_total{volume=\"1\",proc=\"read\"}: %v -> %v after a cold READ; want an increase", before.upReads, cold.upReads)
	}
	if cold.upCalls <= before.upCalls {
		t.Errorf("upstream_calls_total (all procedures): %v -> %v after a cold READ; want an increase", before.upCalls, cold.upCalls)
	}
	if cold.misses <= before.misses {
		t.Errorf("cache_misses_total: %v -> %v after a cold READ; want an increase", before.misses, cold.misses)
	}

	// The granule is stored (fdatasync'd) after the reply went out; a READ
	// arriving before that joins the fetch and is still a miss. Wait for
	// the fill so the second READ has something to hit.
	await.Until(t, "store_fills_total to grow after a cold READ (the granule stored)", func() bool {
		cold = get()
		return cold.fills != before.fills
	})
	readOnce()
	warm := get()
	t.Logf("after a second READ: %+v", warm)
	if warm.reads != cold.reads+1 {
		t.Errorf("requests_total{proc=\"read\"}: %v -> %v after the second READ; want +1", cold.reads, warm.reads)
	}
	if warm.hits <= cold.hits {
		t.Errorf("cache_hits_total: %v -> %v after a second READ of the same file; want an increase", cold.hits, warm.hits)
	}
	if warm.upReads != cold.upReads {
		t.Errorf("upstream_calls_total{proc=\"read\"}: %v -> %v after a cache hit; want no upstream READ", cold.upReads, warm.upReads)
	}

	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	// The proxy sees its connections to the stopped ganesha close.
	await.Until(t, `nfscacheproxy_upstream_up{volume="1"} to read 0 with the upstream stopped`, func() bool {
		_, body := scrape(t, base+"/metrics")
		return strings.Contains(body, `nfscacheproxy_upstream_up{volume="1"} 0`)
	})
	// /readyz reuses a result for at most a second (metrics.Options
	// .ReadyCacheFor); the last probe was before the outage. Wait that out
	// so the answer below is evaluated with the upstream down.
	await.Until(t, "the readiness result of before the outage to expire", func() bool {
		return time.Since(readyProbed) > 1100*time.Millisecond
	})
	// Readiness does not follow the filer: the proxy still serves its
	// clients (from cache, stale, or with NFS's own retries).
	if code, body := scrape(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the upstream stopped: %d %q; want 200 (the upstream is a metric, not readiness)", code, strings.TrimSpace(body))
	}
}
