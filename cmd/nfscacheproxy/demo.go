package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
	"github.com/spf13/cobra"
)

const demoText = "hello from the embedded upstream\n"

// demoFlags are the flags of `demo`.
type demoFlags struct {
	dir, listen, metricsListen, logLevel string
	portmap                              bool
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: "Run an embedded upstream with the proxy in front of it",
		Long: `Run an embedded upstream (go-nfs over a directory) with the proxy and a data cache in front
of it, check a read through the proxy, and print how to mount it. Ctrl-C stops.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo(cmd.Context(), &f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.dir, "dir", "", "directory the embedded upstream serves (default: a new temporary directory)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:2049", "address the proxy serves NFS and MOUNT on")
	fs.StringVar(&f.metricsListen, "metrics-listen", "127.0.0.1:9102", "address for /metrics; empty: off")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.portmap, "portmap", false, "also serve the built-in portmapper on :111 (TCP and UDP), so clients need no port options; needs port 111 free (no system rpcbind)")
	return cmd
}

// demo runs an embedded upstream (go-nfs over a directory) with the proxy
// and a data cache in front of it, checks a read through the proxy, and
// prints how to mount it.
func demo(ctx context.Context, f *demoFlags, stdout, stderr io.Writer) error {
	dir, listen, metricsListen, logLevel, pmap := &f.dir, &f.listen, &f.metricsListen, &f.logLevel, &f.portmap
	tmp, err := os.MkdirTemp("", "nfscacheproxy-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *dir == "" {
		*dir = filepath.Join(tmp, "export")
		if err := os.Mkdir(*dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(*dir, "hello.txt"), []byte(demoText), 0o644); err != nil {
		return err
	}
	up, err := demoserver.Start(*dir, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer up.Close()

	cfg := DefaultConfig()
	cfg.Listen = *listen
	cfg.Metrics.Listen = *metricsListen
	cfg.Log.Level = *logLevel
	cfg.Cache.Dir = filepath.Join(tmp, "cache")
	cfg.Upstream.UnprivilegedPort = true
	if *pmap {
		cfg.Portmap.Enabled, cfg.Portmap.Listen = true, ":111"
	}
	v := DefaultVolume()
	v.ID, v.Upstream, v.NFSPort, v.MountPort = 1, "127.0.0.1:/export", up.Port(), up.Port()
	v.Squash.Root = false
	cfg.Volumes = []VolumeConfig{v}
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("%w (pick other addresses with --listen / --metrics-listen)", err)
	}
	return a.run(ctx, nil, nil, func() {
		host, port := a.Addr().IP.String(), a.Addr().Port
		fmt.Fprintf(stdout, "embedded upstream: go-nfs serving %s on 127.0.0.1:%d\n", *dir, up.Port())
		fmt.Fprintf(stdout, "proxy: serving /export on %s, data cache in %s\n\n", a.Addr(), cfg.Cache.Dir)
		// Between the two reads, wait (briefly) for the first one's granule
		// to be stored, so the second is a cache hit.
		waitFill := func() {
			for deadline := time.Now().Add(2 * time.Second); a.store.Stats().Fills == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if err := demoCheck(ctx, host, port, waitFill); err != nil {
			fmt.Fprintf(stdout, "self-check through the proxy FAILED: %v\n", err)
		} else {
			st := a.store.Stats()
			fmt.Fprintf(stdout, "self-check: read /export/hello.txt through the proxy twice: ok (%d bytes from the upstream, %d from the cache)\n",
				st.BytesFromUpstream, st.BytesFromCache)
		}
		fmt.Fprintf(stdout, "\nMount it from a Linux client:\n  sudo mount -t nfs -o vers=3,proto=tcp,nolock,port=%d,mountport=%d %s:/export /mnt\n", port, port, host)
		fmt.Fprintf(stdout, "or list it with libnfs:\n  nfs-ls 'nfs://%s/export?version=3&nfsport=%d&mountport=%d'\n", host, port, port)
		if cfg.Portmap.Enabled {
			fmt.Fprintf(stdout, "portmapper on %s: no port options needed:\n  nfs-ls nfs://%s/export\n  showmount -e %s\n", cfg.Portmap.Listen, host, host)
		}
		if cfg.Metrics.Listen != "" {
			fmt.Fprintf(stdout, "metrics: curl http://%s/metrics\n", cfg.Metrics.Listen)
		}
		fmt.Fprintf(stdout, "\nCtrl-C stops.\n")
	})
}

// demoCheck mounts the proxy with our own client and reads hello.txt twice,
// calling between after the first read.
func demoCheck(ctx context.Context, host string, port int, between func()) error {
	c, err := upstream.Dial(ctx, upstream.Options{Server: host, Export: "/export", NFSPort: port, MountPort: port, UnprivilegedPort: true, Conns: 1})
	if err != nil {
		return err
	}
	defer c.Close()
	cred := &rpc.Cred{Flavor: rpc.AuthSys, Machine: "demo"}
	lk, err := c.Lookup(ctx, cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: c.Root(), Name: "hello.txt"}})
	if err != nil {
		return err
	}
	if lk.Status != nfs3.StatOK {
		return lk.Status
	}
	for i := 0; i < 2; i++ {
		rd, err := c.Read(ctx, cred, &nfs3.ReadArgs{File: lk.Object, Count: 4096})
		if err != nil {
			return err
		}
		if rd.Status != nfs3.StatOK {
			return rd.Status
		}
		if string(rd.Data) != demoText {
			return fmt.Errorf("read %q", rd.Data)
		}
		if i == 0 {
			between()
		}
	}
	return nil
}
