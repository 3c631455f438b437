package integration

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

const testVolume = 1

// env is a ganesha upstream with a proxy in front of it.
type env struct {
	t     *testing.T
	opts  envOptions
	store *cache.Store // nil without a data cache
	g     *harness.Ganesha
	up    *upstream.Client // the proxy's upstream client
	srv   *proxy.Server
	addr  string // proxy host:port (NFS and MOUNT)
	port  int
	close func()
}

// envOptions configure the proxy of an env.
type envOptions struct {
	cacheDir  string // "" = no data cache; "temp" = a new temp dir
	coherency coherency.Options
	policy    proxy.Policy
	failure   proxy.Failure
	hard      bool          // upstream.Options.Hard
	callTO    time.Duration // upstream.Options.CallTimeout
	nlm       bool          // ganesha serves NLM (harness.GaneshaOptions.NLM)
	observer  *procCounter  // counts the proxy's upstream calls (nil: none)
}

func startEnv(t *testing.T) *env { return startEnvWith(t, envOptions{}) }

func startEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.cacheDir == "temp" {
		o.cacheDir = t.TempDir()
	}
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{NLM: o.nlm})
	e := &env{t: t, g: g, opts: o}
	e.startProxy("127.0.0.1:0")
	return e
}

// startProxy starts a proxy (again) on addr in front of e.g.
func (e *env) startProxy(addr string) {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	uo := upstream.Options{
		Server: e.g.Host, Export: e.g.Export, NFSPort: e.g.NFSPort, MountPort: e.g.MountPort,
		Hard: e.opts.hard, CallTimeout: e.opts.callTO,
	}
	if e.opts.observer != nil {
		uo.Observer = e.opts.observer
	}
	up, err := upstream.Dial(ctx, uo)
	if err != nil {
		t.Fatalf("dial upstream: %v", err)
	}
	vol := proxy.Volume{ID: testVolume, Name: "/export", Upstream: up, Coherency: e.opts.coherency, Policy: e.opts.policy, Failure: e.opts.failure}
	var store *cache.Store
	if e.opts.cacheDir != "" {
		store, err = cache.Open(cache.Options{Dir: e.opts.cacheDir})
		if err != nil {
			t.Fatalf("open cache: %v", err)
		}
		vol.Data = proxy.StoreVolume(store, cache.VolumeKey{Server: e.g.Host, Export: e.g.Export, ID: testVolume})
	}
	srv, err := proxy.New(proxy.Options{Volumes: []proxy.Volume{vol}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	e.up, e.srv, e.addr, e.store = up, srv, l.Addr().String(), store
	e.port = l.Addr().(*net.TCPAddr).Port
	var once bool
	e.close = func() {
		if once {
			return
		}
		once = true
		srv.Close()
		<-done
		up.Close()
		if store != nil {
			store.Close()
		}
	}
	t.Cleanup(e.close)
}

// procCounter counts upstream NFS calls by procedure (an
// upstream.Options.Observer).
type procCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newProcCounter() *procCounter { return &procCounter{n: map[string]int{}} }

func (p *procCounter) ObserveRequest(_, proc string, _ time.Duration, _ bool) {
	p.mu.Lock()
	p.n[proc]++
	p.mu.Unlock()
}

// count returns how many calls of proc ("lookup", ...) were made so far.
func (p *procCounter) count(proc string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[proc]
}

// url is a libnfs URL for path through the proxy.
func (e *env) url(path string) string {
	return harness.LibNFSURL("127.0.0.1", e.port, e.port, "/export", path)
}

// urlAs is url with AUTH_SYS uid/gid.
func (e *env) urlAs(path string, uid, gid uint32) string {
	return harness.LibNFSURLAs("127.0.0.1", e.port, e.port, "/export", path, uid, gid)
}

// nfsClient is an RPC-level NFSv3 client (package upstream, used as a
// client) with one credential.
type nfsClient struct {
	t    testing.TB
	c    *upstream.Client
	cred rpc.Cred
	ctx  context.Context
}

func dialClient(t testing.TB, addr string, port, mountPort int, uid, gid uint32) *nfsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := upstream.Dial(ctx, upstream.Options{Server: addr, Export: "/export", NFSPort: port, MountPort: mountPort, UnprivilegedPort: true, Conns: 1})
	if err != nil {
		t.Fatalf("dial %s:%d: %v", addr, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return &nfsClient{t: t, c: c, cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: "itest", UID: uid, GID: gid}, ctx: context.Background()}
}

// proxyClient is a client of the proxy; directClient one of ganesha itself.
func (e *env) proxyClient(uid, gid uint32) *nfsClient {
	return dialClient(e.t, "127.0.0.1", e.port, e.port, uid, gid)
}

func (e *env) directClient(uid, gid uint32) *nfsClient {
	return dialClient(e.t, e.g.Host, e.g.NFSPort, e.g.MountPort, uid, gid)
}

func (n *nfsClient) root() nfs3.FH { return n.c.Root() }

func (n *nfsClient) lookup(dir nfs3.FH, name string) (nfs3.FH, nfs3.Stat) {
	n.t.Helper()
	res, err := n.c.Lookup(n.ctx, &n.cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: dir, Name: name}})
	if err != nil {
		n.t.Fatalf("lookup %s: %v", name, err)
	}
	return res.Object, res.Status
}

func (n *nfsClient) mustLookup(dir nfs3.FH, name string) nfs3.FH {
	n.t.Helper()
	fh, st := n.lookup(dir, name)
	if st != nfs3.StatOK {
		n.t.Fatalf("lookup %s: %v", name, st)
	}
	return fh
}

func (n *nfsClient) getattr(fh nfs3.FH) (nfs3.Fattr3, nfs3.Stat) {
	n.t.Helper()
	res, err := n.c.Getattr(n.ctx, &n.cred, &nfs3.GetattrArgs{Object: fh})
	if err != nil {
		n.t.Fatalf("getattr: %v", err)
	}
	return res.Attr, res.Status
}

func (n *nfsClient) create(dir nfs3.FH, name string, mode uint32) (nfs3.FH, nfs3.Stat) {
	n.t.Helper()
	res, err := n.c.Create(n.ctx, &n.cred, &nfs3.CreateArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: name}, Mode: nfs3.CreateUnchecked,
		Attr: nfs3.Sattr3{SetMode: true, Mode: mode}})
	if err != nil {
		n.t.Fatalf("create %s: %v", name, err)
	}
	return res.Obj.FH, res.Status
}

func (n *nfsClient) mkdir(dir nfs3.FH, name string) (nfs3.FH, nfs3.Stat) {
	n.t.Helper()
	res, err := n.c.Mkdir(n.ctx, &n.cred, &nfs3.MkdirArgs{Where: nfs3.DirOpArgs{Dir: dir, Name: name}, Attr: nfs3.Sattr3{SetMode: true, Mode: 0o755}})
	if err != nil {
		n.t.Fatalf("mkdir %s: %v", name, err)
	}
	return res.Obj.FH, res.Status
}

func (n *nfsClient) write(fh nfs3.FH, off uint64, data []byte, stable nfs3.StableHow) *nfs3.WriteRes {
	n.t.Helper()
	res, err := n.c.Write(n.ctx, &n.cred, &nfs3.WriteArgs{File: fh, Offset: off, Count: uint32(len(data)), Stable: stable, Data: data})
	if err != nil {
		n.t.Fatalf("write: %v", err)
	}
	return res
}

func (n *nfsClient) read(fh nfs3.FH, off uint64, count uint32) *nfs3.ReadRes {
	n.t.Helper()
	res, err := n.c.Read(n.ctx, &n.cred, &nfs3.ReadArgs{File: fh, Offset: off, Count: count})
	if err != nil {
		n.t.Fatalf("read: %v", err)
	}
	return res
}

// readAll reads a whole file in 1 MiB calls.
func (n *nfsClient) readAll(fh nfs3.FH) []byte {
	n.t.Helper()
	var out []byte
	for off := uint64(0); ; {
		res := n.read(fh, off, 1<<20)
		if res.Status != nfs3.StatOK {
			n.t.Fatalf("read at %d: %v", off, res.Status)
		}
		out = append(out, res.Data...)
		off += uint64(len(res.Data))
		if res.EOF || len(res.Data) == 0 {
			return out
		}
	}
}

func portString(p int) string { return strconv.Itoa(p) }

var _ = fmt.Sprintf

// dialNoFail dials the proxy as a client without failing the test (for
// goroutines racing a crash).
func dialNoFail(addr string, port int) (*upstream.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return upstream.Dial(ctx, upstream.Options{Server: addr, Export: "/export", NFSPort: port, MountPort: port, UnprivilegedPort: true, Conns: 1, Retries: -1, CallTimeout: 2 * time.Second})
}
