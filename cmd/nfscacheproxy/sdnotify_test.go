package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
	"github.com/nfscacheproxy/nfscacheproxy/internal/sdnotify"
)

// TestServeNotifiesSystemd: under systemd (NOTIFY_SOCKET set), serve
// sends READY=1 once it serves, RELOADING=1 then READY=1 around a SIGHUP,
// and STOPPING=1 when it is told to stop: what Type=notify in
// deploy/nfscacheproxy.service relies on.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv(sdnotify.Env, sock)
	next := func(what string) string {
		t.Helper()
		l.SetReadDeadline(time.Now().Add(await.Deadline))
		buf := make([]byte, 4096)
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return string(buf[:n])
	}

	up, err := demoserver.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	port := strconv.Itoa(up.Port())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		root := newRootCmd(io.Discard, io.Discard)
		root.SetArgs([]string{"serve", "--upstream", "127.0.0.1:/export", "--upstream-nfs-port", port, "--upstream-mount-port", port,
			"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--upstream-unprivileged-port",
			"--cache-dir", filepath.Join(t.TempDir(), "cache"), "--log-level", "error"})
		done <- root.ExecuteContext(ctx)
	}()

	if got := next("READY=1"); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("first notification %q; want READY=1", got)
	}
	// serve registered its SIGHUP handler before it served.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := next("RELOADING=1"); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("after SIGHUP: %q; want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := next("READY=1 after the reload"); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("after the reload: %q; want READY=1", got)
	}
	cancel()
	if got := next("STOPPING=1"); got != "STOPPING=1" {
		t.Fatalf("at stop: %q; want STOPPING=1", got)
	}
	if err := await.Recv(t, "serve to return", done); err != nil {
		t.Fatalf("serve: %v", err)
	}
}
