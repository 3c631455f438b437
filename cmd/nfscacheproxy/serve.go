package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// serveFlags are the flags of `serve` (and the parts of `demo` it shares).
type serveFlags struct {
	upstream   string
	nfsPort    int
	mountPort  int
	listen     string
	volumeID   uint
	name       string
	conns      int
	readOnly   bool
	logLevel   string
	logFormat  string
	drain      time.Duration
	unprivPort bool
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.upstream, "upstream", "", "upstream export as HOST:/PATH (required)")
	fs.IntVar(&f.nfsPort, "upstream-nfs-port", 0, "upstream NFS port (0: ask its portmapper)")
	fs.IntVar(&f.mountPort, "upstream-mount-port", 0, "upstream MOUNT port (0: ask its portmapper)")
	fs.StringVar(&f.listen, "listen", ":2049", "address to serve NFS and MOUNT on (both on one port)")
	fs.UintVar(&f.volumeID, "volume-id", 1, "volume id, part of every file handle: keep it stable, never reuse it (1-65535)")
	fs.StringVar(&f.name, "name", "", "path clients mount (default: the upstream export path)")
	fs.IntVar(&f.conns, "upstream-conns", 2, "TCP connections to the upstream")
	fs.BoolVar(&f.readOnly, "read-only", false, "refuse every change with NFS3ERR_ROFS")
	fs.BoolVar(&f.unprivPort, "upstream-unprivileged-port", false, "do not bind a source port below 1024 toward the upstream")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&f.drain, "drain-timeout", 10*time.Second, "on SIGTERM, how long to let requests in flight finish")
}

// parseUpstream splits HOST:/PATH.
func parseUpstream(s string) (host, export string, err error) {
	i := strings.Index(s, ":/")
	if i <= 0 {
		return "", "", fmt.Errorf("upstream: %q is not HOST:/PATH", s)
	}
	return s[:i], s[i+1:], nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.upstream == "" {
		return errors.New("upstream: required (HOST:/PATH)")
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return runProxy(ctx, &f, l, log, nil)
}

// runProxy dials the upstream, serves l until ctx ends, then drains.
// ready, when set, is called once the proxy is serving.
func runProxy(ctx context.Context, f *serveFlags, l net.Listener, log *slog.Logger, ready func()) error {
	host, export, err := parseUpstream(f.upstream)
	if err != nil {
		return err
	}
	if f.volumeID < 1 || f.volumeID > 65535 {
		return fmt.Errorf("volume-id: %d not in 1..65535", f.volumeID)
	}
	name := f.name
	if name == "" {
		name = export
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	up, err := upstream.Dial(dctx, upstream.Options{
		Server: host, Export: export, NFSPort: f.nfsPort, MountPort: f.mountPort,
		Conns: f.conns, UnprivilegedPort: f.unprivPort, Logger: log,
	})
	cancel()
	if err != nil {
		return err
	}
	defer up.Close()
	srv, err := proxy.New(proxy.Options{
		Volumes: []proxy.Volume{{ID: uint16(f.volumeID), Name: name, Upstream: up, ReadOnly: f.readOnly}},
		Logger:  log,
	})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("serving", "listen", l.Addr().String(), "upstream", f.upstream, "volume", f.volumeID, "name", name)
	if ready != nil {
		ready()
	}
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("draining", "timeout", f.drain)
	sctx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	<-errc
	return nil
}
