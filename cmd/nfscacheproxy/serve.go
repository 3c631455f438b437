package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nfscacheproxy/nfscacheproxy/internal/sdnotify"
)

// serveFlags are the flags of `serve`. Each one overrides the configuration
// file and the environment only when given: defaults < file < env < flags.
type serveFlags struct {
	config        string
	upstream      string
	nfsPort       int
	mountPort     int
	listen        string
	volumeID      uint
	name          string
	conns         int
	readOnly      bool
	logLevel      string
	logFormat     string
	drain         time.Duration
	unprivPort    bool
	cacheDir      string
	cacheMaxSize  string
	coherency     string
	actimeo       time.Duration
	metricsListen string
	portmap       bool
	portmapListen string
	adminSocket   string
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "YAML configuration file (also $NFSCACHEPROXY_CONFIG)")
	fs.StringVar(&f.upstream, "upstream", "", "upstream export HOST:/PATH of the volume --volume-id (created if the config lacks it)")
	fs.IntVar(&f.nfsPort, "upstream-nfs-port", 0, "upstream NFS port of that volume (0: ask its portmapper)")
	fs.IntVar(&f.mountPort, "upstream-mount-port", 0, "upstream MOUNT port of that volume (0: ask its portmapper)")
	fs.StringVar(&f.listen, "listen", ":2049", "address to serve NFS and MOUNT on (both on one port)")
	fs.UintVar(&f.volumeID, "volume-id", 1, "the volume the other volume flags apply to; part of every file handle: keep it stable, never reuse it (1-65535)")
	fs.StringVar(&f.name, "name", "", "path clients mount (default: the upstream export path)")
	fs.IntVar(&f.conns, "upstream-conns", 4, "TCP connections to each upstream")
	fs.BoolVar(&f.readOnly, "read-only", false, "refuse every change to the volume with NFS3ERR_ROFS")
	fs.BoolVar(&f.unprivPort, "upstream-unprivileged-port", false, "do not bind a source port below 1024 toward the upstream")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&f.drain, "drain-timeout", 10*time.Second, "on SIGTERM, how long to let requests in flight finish")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "data cache directory (absolute); empty: no data cache")
	fs.StringVar(&f.cacheMaxSize, "cache-max-size", "", "cap on cached bytes, e.g. 50GiB (default: only free-space limits)")
	fs.StringVar(&f.coherency, "coherency", "", "coherency mode of the volume: ttl, cto or static")
	fs.DurationVar(&f.actimeo, "actimeo", 0, "set the volume's acregmin, acregmax, acdirmin and acdirmax to this (like the Linux actimeo= mount option)")
	fs.StringVar(&f.metricsListen, "metrics-listen", ":9102", "address for /metrics, /healthz, /readyz; empty: off")
	fs.BoolVar(&f.portmap, "portmap", false, "serve a portmapper so clients need no port options")
	fs.StringVar(&f.portmapListen, "portmap-listen", ":111", "portmapper address (TCP and UDP)")
	fs.StringVar(&f.adminSocket, "admin-socket", "", `unix socket of the admin API (cache invalidate), mode 0600 (default: CACHE-DIR/admin.sock; "none": off)`)
}

// loadServeConfig builds the configuration: defaults, then the file, then
// the environment, then the flags that were given; and validates it.
func loadServeConfig(fs *pflag.FlagSet, f *serveFlags, getenv func(string) string) (*Config, error) {
	path := f.config
	if path == "" {
		path = getenv(envConfig)
	}
	cfg := DefaultConfig()
	if path != "" {
		var err error
		if cfg, err = LoadConfig(path); err != nil {
			return nil, err
		}
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return nil, err
	}
	if err := f.apply(fs, cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// apply copies the flags that were set into cfg.
func (f *serveFlags) apply(fs *pflag.FlagSet, cfg *Config) error {
	set := map[string]bool{}
	fs.Visit(func(fl *pflag.Flag) { set[fl.Name] = true })
	if set["listen"] {
		cfg.Listen = f.listen
	}
	if set["log-level"] {
		cfg.Log.Level = f.logLevel
	}
	if set["log-format"] {
		cfg.Log.Format = f.logFormat
	}
	if set["drain-timeout"] {
		cfg.DrainTimeout = Duration{Duration: f.drain}
	}
	if set["upstream-conns"] {
		cfg.Upstream.Conns = f.conns
	}
	if set["upstream-unprivileged-port"] {
		cfg.Upstream.UnprivilegedPort = f.unprivPort
	}
	if set["cache-dir"] {
		cfg.Cache.Dir = f.cacheDir
	}
	if set["cache-max-size"] {
		n, err := ParseSize(f.cacheMaxSize)
		if err != nil {
			return fmt.Errorf("--cache-max-size: %w", err)
		}
		cfg.Cache.MaxSize = n
	}
	if set["metrics-listen"] {
		cfg.Metrics.Listen = f.metricsListen
	}
	if set["portmap"] {
		cfg.Portmap.Enabled = f.portmap
	}
	if set["portmap-listen"] {
		cfg.Portmap.Listen = f.portmapListen
	}
	if set["admin-socket"] {
		cfg.Admin.Socket = f.adminSocket
	}
	volFlags := []string{"upstream", "upstream-nfs-port", "upstream-mount-port", "name", "read-only", "coherency", "actimeo"}
	if !slices.ContainsFunc(volFlags, func(n string) bool { return set[n] }) {
		return nil
	}
	if f.volumeID < 1 || f.volumeID > 65535 {
		return fmt.Errorf("--volume-id: %d not in 1..65535", f.volumeID)
	}
	i := slices.IndexFunc(cfg.Volumes, func(v VolumeConfig) bool { return v.ID == int(f.volumeID) })
	if i < 0 {
		if !set["upstream"] {
			return fmt.Errorf("--volume-id %d: no such volume in the configuration; give --upstream to create it", f.volumeID)
		}
		v := DefaultVolume()
		v.ID = int(f.volumeID)
		cfg.Volumes = append(cfg.Volumes, v)
		i = len(cfg.Volumes) - 1
	}
	v := &cfg.Volumes[i]
	if set["upstream"] {
		v.Upstream = f.upstream
	}
	if set["upstream-nfs-port"] {
		v.NFSPort = f.nfsPort
	}
	if set["upstream-mount-port"] {
		v.MountPort = f.mountPort
	}
	if set["name"] {
		v.Name = f.name
	}
	if set["read-only"] {
		v.ReadOnly = f.readOnly
	}
	if set["coherency"] {
		v.Coherency.Mode = f.coherency
	}
	if set["actimeo"] {
		d := Duration{Duration: f.actimeo}
		v.Coherency.ACRegMin, v.Coherency.ACRegMax, v.Coherency.ACDirMin, v.Coherency.ACDirMax = d, d, d, d
	}
	return nil
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --upstream HOST:/EXPORT [flags]",
		Short: "Serve clients from an upstream NFSv3 export",
		Long: `Serve NFSv3 and MOUNT clients from one or more upstream NFSv3 exports, caching what they read.

Configuration: defaults < the file (--config or $NFSCACHEPROXY_CONFIG) < environment < flags.
The volume flags (--upstream, --name, --read-only, --coherency, --actimeo, ports) apply to the
volume --volume-id. SIGHUP reloads the configuration; SIGTERM drains and stops.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, &f)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// serve runs the proxy until the command's context ends.
func serve(cmd *cobra.Command, f *serveFlags) error {
	ctx, fs, stderr := cmd.Context(), cmd.Flags(), cmd.ErrOrStderr()
	cfg, err := loadServeConfig(fs, f, os.Getenv)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// systemd (Type=notify): started once serving, reloading around a
	// SIGHUP, stopping at SIGTERM. Outside systemd these do nothing.
	notify := func(state string) {
		if err := sdnotify.Notify(os.Getenv(sdnotify.Env), state); err != nil {
			a.log.Warn("systemd notification", "err", err)
		}
	}
	stopped := make(chan struct{})
	stopNotify := context.AfterFunc(ctx, func() {
		defer close(stopped)
		notify(sdnotify.Stopping())
	})
	defer func() {
		if !stopNotify() {
			<-stopped // sent (or being sent): wait, so no goroutine outlives serve
		}
	}()
	reload := func() {
		notify(sdnotify.Reloading())
		defer notify(sdnotify.Ready("serving"))
		next, err := loadServeConfig(fs, f, os.Getenv)
		if err != nil {
			a.log.Error("reload: configuration refused; keeping the running one", "err", err)
			return
		}
		a.reload(next)
	}
	return a.run(ctx, hup, reload, func() { notify(sdnotify.Ready("serving")) })
}

var errStopped = errors.New("stopped")
