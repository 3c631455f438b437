package main

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/config"
	"github.com/nfscacheproxy/nfscacheproxy/metrics"
	"github.com/nfscacheproxy/nfscacheproxy/portmap"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// app is a running proxy: its listeners, servers and the objects they use.
type app struct {
	cfg     *Config
	log     *slog.Logger
	level   *slog.LevelVar
	store   *cache.Store
	ups     []*upstream.Client
	srv     *proxy.Server
	mets    *metrics.Server
	pmap    *portmap.Server
	nlm     *nlmParts // nil: NLM not served
	nfsL    []net.Listener
	pmapL   net.Listener
	pmapU   net.PacketConn
	metL    net.Listener
	closers []func()

	// serving is true from the start of run until draining begins: the
	// "serving" readiness check.
	serving atomic.Bool

	invalidateLimit *rate.Limiter // POST /admin/invalidate
	admin           adminServer   // the admin API's listeners (admin.go)
}

// Addr returns the address NFS and MOUNT are served on.
func (a *app) Addr() *net.TCPAddr { return a.nfsL[0].Addr().(*net.TCPAddr) }

// newApp wires cfg (validated) into running parts; nothing serves until run.
func newApp(ctx context.Context, cfg *Config, logOut io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, level: new(slog.LevelVar)}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := a.level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: a.level}
	if cfg.Log.Format == "json" {
		a.log = slog.New(slog.NewJSONHandler(logOut, hopts))
	} else {
		a.log = slog.New(slog.NewTextHandler(logOut, hopts))
	}
	a.mets = metrics.New(metrics.Options{Pprof: cfg.Metrics.Pprof, Logger: a.log})
	reqHist := metrics.NewProcHistograms(metrics.ProcHistogramOpts{Name: "request", Help: "client requests", Results: true})
	upHist := metrics.NewProcHistograms(metrics.ProcHistogramOpts{Name: "upstream_call", Help: "calls to the upstream server"})
	a.mets.Registry().MustRegister(reqHist, upHist)

	if cfg.Cache.Dir != "" {
		a.store, err = cache.Open(cache.Options{
			Dir: cfg.Cache.Dir, GranuleSize: int(cfg.Cache.Granule), MaxBytes: int64(cfg.Cache.MaxSize),
			BRun: cfg.Cache.BRun, BCull: cfg.Cache.BCull, BStop: cfg.Cache.BStop,
			FRun: cfg.Cache.FRun, FCull: cfg.Cache.FCull, FStop: cfg.Cache.FStop,
			Readahead: offIfZero(cfg.Cache.Readahead), Paranoid: cfg.Cache.Paranoid,
			FlushDelay: offIfZero(cfg.Cache.FlushDelay.Duration), Logger: a.log,
		})
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { a.store.Close() })
	}

	var vols []proxy.Volume
	pending := 0 // volumes whose upstream is not mounted yet: the proxy serves them once it is
	for i := range cfg.Volumes {
		vc := &cfg.Volumes[i]
		v, up, err := a.volume(ctx, vc, upHist)
		if err != nil {
			return nil, fmt.Errorf("volumes[%d] (id %d): %w", i, vc.ID, err)
		}
		a.ups = append(a.ups, up)
		vols = append(vols, v)
		if v.Pending {
			pending++
		}
	}
	if pending == len(vols) {
		return nil, errors.New("no volume's upstream is reachable (each is logged above): nothing to serve")
	}
	l := &cfg.Limits
	a.srv, err = proxy.New(proxy.Options{Volumes: vols, Observer: reqHist, Logger: a.log,
		MaxConns: l.MaxConns, MaxConnsPerClient: l.MaxConnsPerClient, PerConnLimit: l.ConnRequests, GlobalLimit: l.Requests,
		IdleTimeout: l.IdleTimeout.Duration, RecordTimeout: l.RecordTimeout.Duration, PartialRecordBytes: int64(l.PartialRecordBytes), WriteTimeout: l.WriteTimeout.Duration, RequestTimeout: l.RequestTimeout.Duration,
		NoSendfile: !cfg.Cache.Sendfile})
	if err != nil {
		return nil, err
	}
	a.registerMetrics()
	a.addReadiness()
	// At most one invalidation a second (bursts of 5): each empties
	// metadata caches, so a loop of POSTs would turn the proxy into a
	// pass-through and flood the log.
	a.invalidateLimit = rate.NewLimiter(rate.Every(time.Second), 5)

	for _, addr := range []string{cfg.Listen, cfg.MountListen} {
		if addr == "" {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		a.nfsL = append(a.nfsL, l)
	}
	if cfg.Metrics.Listen != "" {
		if a.metL, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return nil, fmt.Errorf("metrics.listen %s: %w", cfg.Metrics.Listen, err)
		}
	}
	if err := a.listenAdmin(); err != nil {
		return nil, err
	}
	if err := a.startNLM(ctx); err != nil {
		return nil, err
	}
	if cfg.Portmap.Enabled {
		if err := a.startPortmap(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// offIfZero maps the configuration's 0 = off (cache.readahead,
// cache.flush_delay) to the cache's negative = off, where 0 means its
// default.
func offIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// volume dials one volume's upstream and builds its proxy.Volume.
func (a *app) volume(ctx context.Context, vc *VolumeConfig, obs *metrics.ProcHistograms) (proxy.Volume, *upstream.Client, error) {
	host, export, err := vc.UpstreamHostPath()
	if err != nil {
		return proxy.Volume{}, nil, err
	}
	clients, err := vc.ClientPrefixes()
	if err != nil {
		return proxy.Volume{}, nil, err
	}
	mode, err := coherency.ParseMode(vc.Coherency.Mode)
	if err != nil {
		return proxy.Volume{}, nil, err
	}
	if len(clients) == 0 {
		// Like an exports(5) line with "*": AUTH_SYS trusts the uid the
		// client claims, so say so where an operator looks.
		a.log.Warn("volume is open to every client address: set volumes[].clients to the networks that may mount it",
			"volume", vc.ID, "name", vc.MountPath(), "read_only", vc.ReadOnly)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// With several volumes, one unreachable upstream must not keep the
	// others from being served: it is mounted in the background and its
	// volume served from then on (proxy.Prober). A single volume's
	// upstream must be reachable at start.
	dial := upstream.Dial
	if len(a.cfg.Volumes) > 1 {
		dial = upstream.Start
	}
	up, err := dial(dctx, upstream.Options{
		Server: host, Export: export, NFSPort: vc.NFSPort, MountPort: vc.MountPort,
		Conns: a.cfg.Upstream.Conns, CallTimeout: a.cfg.Upstream.Timeout.Duration,
		Retries: retriesOption(a.cfg.Upstream.Retries), Hard: vc.Failure.Mode != "soft",
		UnprivilegedPort: a.cfg.Upstream.UnprivilegedPort, Observer: obs,
		Logger: a.log.With("volume", vc.ID),
	})
	if err != nil {
		return proxy.Volume{}, nil, err
	}
	a.closers = append(a.closers, func() { up.Close() })
	v := proxy.Volume{
		ID: uint16(vc.ID), Name: vc.MountPath(), Upstream: up, ReadOnly: vc.ReadOnly,
		Policy: policyOf(vc, clients),
		Coherency: coherency.Options{Mode: mode,
			AcRegMin: vc.Coherency.ACRegMin.Duration, AcRegMax: vc.Coherency.ACRegMax.Duration,
			AcDirMin: vc.Coherency.ACDirMin.Duration, AcDirMax: vc.Coherency.ACDirMax.Duration},
		Failure: proxy.Failure{Soft: vc.Failure.Mode == "soft", SoftTimeout: vc.Failure.SoftTimeout.Duration, ServeStale: vc.Failure.ServeStale},
	}
	switch {
	case up.Root() == nil:
		v.Pending, v.ProbeFSID = true, !vc.CrossMounts
	case !vc.CrossMounts:
		fsid, err := up.RootFSID(dctx)
		if err != nil {
			return proxy.Volume{}, nil, err
		}
		v.FSIDs = []uint64{fsid}
	}
	if a.store != nil {
		v.Data = proxy.StoreVolume(a.store, cache.VolumeKey{Server: host, Export: export, ID: uint16(vc.ID)})
	}
	return v, up, nil
}

// retriesOption maps the configuration's 0 = none to upstream's -1 = none.
func retriesOption(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func policyOf(vc *VolumeConfig, clients []netip.Prefix) proxy.Policy {
	return proxy.Policy{
		Clients: clients, RootSquash: vc.Squash.Root, AllSquash: vc.Squash.All,
		AnonUID: uint32(vc.Squash.AnonUID), AnonGID: uint32(vc.Squash.AnonGID),
		SecurePorts: vc.SecurePorts,
	}
}

func (a *app) startPortmap() error {
	l, err := net.Listen("tcp", a.cfg.Portmap.Listen)
	if err != nil {
		return fmt.Errorf("portmap.listen %s: %w", a.cfg.Portmap.Listen, err)
	}
	a.pmapL = l
	if a.pmapU, err = net.ListenPacket("udp", a.cfg.Portmap.Listen); err != nil {
		return fmt.Errorf("portmap.listen %s (udp): %w", a.cfg.Portmap.Listen, err)
	}
	nfsPort := uint32(a.Addr().Port)
	mountPort := nfsPort
	if len(a.nfsL) > 1 {
		mountPort = uint32(a.nfsL[1].Addr().(*net.TCPAddr).Port)
	}
	pport := uint32(l.Addr().(*net.TCPAddr).Port)
	a.pmap, err = portmap.New(portmap.Options{Mappings: append(portmap.ProxyMappings(nfsPort, mountPort, pport), a.nlmMappings()...), Logger: a.log})
	return err
}

// run serves until ctx ends, then drains requests in flight for the drain
// timeout and closes everything. hup delivers reload requests.
func (a *app) run(ctx context.Context, hup <-chan os.Signal, reload func(), ready func()) error {
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	serve := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, proxy.ErrClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	for _, l := range a.nfsL {
		serve("nfs "+l.Addr().String(), func() error { return a.srv.Serve(l) })
	}
	if a.metL != nil {
		serve("metrics", func() error { return a.mets.Serve(a.metL) })
	}
	a.serveAdmin(serve)
	if a.pmap != nil {
		serve("portmap", func() error { return a.pmap.Serve(a.pmapL) })
		serve("portmap udp", func() error { return a.pmap.ServeUDP(a.pmapU) })
	}
	if a.nlm != nil {
		serve("nlm", a.serveNLM(false))
		serve("nlm udp", a.serveNLM(true))
	}
	a.serving.Store(true)
	a.log.Info("serving", "listen", a.Addr().String(), "volumes", len(a.cfg.Volumes),
		"cache", a.cfg.Cache.Dir, "metrics", a.cfg.Metrics.Listen, "portmap", a.cfg.Portmap.Enabled,
		"admin_socket", a.cfg.AdminSocket(), "admin_listen", a.cfg.Admin.Listen)
	if ready != nil {
		ready()
	}
	var err error
loop:
	for {
		select {
		case err = <-errc:
			break loop
		case <-hup:
			if reload != nil {
				reload()
			}
		case <-ctx.Done():
			break loop
		}
	}
	a.serving.Store(false) // out of the Service before the listeners close
	a.log.Info("draining", "timeout", a.cfg.DrainTimeout.Duration)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout.Duration)
	if derr := a.srv.Shutdown(sctx); derr != nil {
		a.log.Warn("drain incomplete", "err", derr)
	}
	cancel()
	a.close()
	wg.Wait()
	a.log.Info("stopped")
	return err
}

// close stops the side servers and releases the upstreams and the cache
// (which writes its records).
func (a *app) close() {
	if a.srv != nil {
		a.srv.Close()
	}
	if a.pmap != nil {
		a.pmap.Close()
	}
	for _, l := range []io.Closer{a.pmapL, a.metL} {
		if l != nil && l != (net.Listener)(nil) {
			l.Close()
		}
	}
	if a.pmapU != nil {
		a.pmapU.Close()
	}
	a.closeAdmin()
	if a.mets != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		a.mets.Shutdown(ctx)
		cancel()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// reload applies what can change while serving: log level, and each
// volume's client networks, squashing, secure ports and read-only flag.
// Everything else (config.RestartNeeded) is reported as needing a restart.
func (a *app) reload(next *Config) {
	restart := config.RestartNeeded(a.cfg, next)
	if next.Log.Level != a.cfg.Log.Level {
		a.level.UnmarshalText([]byte(next.Log.Level))
	}
	byID := map[int]*VolumeConfig{}
	for i := range next.Volumes {
		byID[next.Volumes[i].ID] = &next.Volumes[i]
	}
	for i := range a.cfg.Volumes {
		old := &a.cfg.Volumes[i]
		nv := byID[old.ID]
		if nv == nil {
			continue
		}
		clients, err := nv.ClientPrefixes()
		if err != nil {
			a.log.Error("reload", "volume", old.ID, "err", err)
			continue
		}
		a.srv.SetAccess(uint16(old.ID), policyOf(nv, clients), nv.ReadOnly)
		old.Clients, old.Squash, old.SecurePorts, old.ReadOnly = nv.Clients, nv.Squash, nv.SecurePorts, nv.ReadOnly
	}
	a.cfg.Log.Level = next.Log.Level
	if len(restart) > 0 {
		a.log.Warn("reload: applied log level and volume access; these need a restart", "unchanged", restart)
	} else {
		a.log.Info("reload: applied")
	}
}
