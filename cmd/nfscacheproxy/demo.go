package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	var dir string
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	fs.StringVar(&dir, "dir", "", "directory the embedded upstream serves (default: a new temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.listen == ":2049" {
		f.listen = "127.0.0.1:2049"
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "nfscacheproxy-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	if err := os.WriteFile(dir+"/hello.txt", []byte("hello from the embedded upstream\n"), 0o644); err != nil {
		return err
	}
	up, err := demoserver.Start(dir, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer up.Close()
	f.upstream = "127.0.0.1:/export"
	f.nfsPort, f.mountPort = up.Port(), up.Port()
	f.unprivPort = true

	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w (pick another with --listen)", f.listen, err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	host, _, _ := net.SplitHostPort(l.Addr().String())
	return runProxy(ctx, &f, l, log, func() {
		fmt.Fprintf(stdout, "embedded upstream: go-nfs serving %s on 127.0.0.1:%d\n", dir, up.Port())
		fmt.Fprintf(stdout, "proxy: serving /export on %s\n\n", l.Addr())
		if err := selfCheck(ctx, host, port); err != nil {
			fmt.Fprintf(stdout, "self-check through the proxy FAILED: %v\n", err)
		} else {
			fmt.Fprintf(stdout, "self-check: read /export/hello.txt through the proxy: ok\n")
		}
		fmt.Fprintf(stdout, "\nMount it from a Linux client:\n  sudo mount -t nfs -o vers=3,proto=tcp,nolock,port=%s,mountport=%s %s:/export /mnt\n", port, port, host)
		fmt.Fprintf(stdout, "or list it with libnfs:\n  nfs-ls 'nfs://%s/export?version=3&nfsport=%s&mountport=%s'\n\nCtrl-C stops.\n", host, port, port)
	})
}

// selfCheck mounts the proxy with our own client and reads hello.txt.
func selfCheck(ctx context.Context, host, port string) error {
	p, _ := strconv.Atoi(port)
	c, err := upstream.Dial(ctx, upstream.Options{Server: host, Export: "/export", NFSPort: p, MountPort: p, UnprivilegedPort: true, Conns: 1})
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
	rd, err := c.Read(ctx, cred, &nfs3.ReadArgs{File: lk.Object, Count: 4096})
	if err != nil {
		return err
	}
	if rd.Status != nfs3.StatOK {
		return rd.Status
	}
	if string(rd.Data) != "hello from the embedded upstream\n" {
		return fmt.Errorf("read %q", rd.Data)
	}
	return nil
}
