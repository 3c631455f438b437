package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
)

// startTestApp runs the proxy in front of up (an embedded go-nfs upstream)
// with a data cache, NFS and metrics on loopback ports, until the test
// ends. It returns the app and the metrics base URL.
func startTestApp(t *testing.T, up *demoserver.Server) (*app, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Cache.Dir = filepath.Join(t.TempDir(), "cache")
	cfg.Upstream.UnprivilegedPort = true
	cfg.Log.Level = "error"
	v := DefaultVolume()
	v.ID, v.Upstream, v.NFSPort, v.MountPort = 1, "127.0.0.1:/export", up.Port(), up.Port()
	v.Squash.Root = false
	cfg.Volumes = []VolumeConfig{v}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, nil, nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := await.Recv(t, "the proxy to stop", done); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a, "http://" + a.metL.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
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

// TestReadyzIgnoresUpstream: /readyz says whether this instance can serve
// its clients, not whether the filer answers. With the upstream gone (and
// nfscacheproxy_upstream_up at 0), /readyz stays 200; with the cache
// directory unusable, it is 503 and names the cache.
func TestReadyzIgnoresUpstream(t *testing.T) {
	dir := t.TempDir()
	up, err := demoserver.Start(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upClosed := false
	defer func() {
		if !upClosed {
			up.Close()
		}
	}()
	a, base := startTestApp(t, up)

	var code int
	var body string
	await.Until(t, "/readyz to answer 200", func() bool {
		code, body = httpGet(t, base+"/readyz")
		return code == http.StatusOK
	})

	up.Close()
	upClosed = true
	await.Until(t, "the upstream client to see the upstream down", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		a.ups[0].Null(ctx) // a call notices the closed server
		return !a.ups[0].Stats().Up
	})
	_, metricsText := httpGet(t, base+"/metrics")
	if !strings.Contains(metricsText, `nfscacheproxy_upstream_up{volume="1"} 0`) {
		t.Errorf("/metrics: no nfscacheproxy_upstream_up{volume=\"1\"} 0 with the upstream down")
	}
	// Adding a check drops the cached readiness result, so the next probe
	// evaluates every check now, with the upstream down.
	a.mets.AddReadiness("test", func(context.Context) error { return nil })
	if code, body = httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the upstream down: got %d %q; want 200", code, body)
	}

	// The cache directory unusable: not ready, and the reason names it.
	if err := os.Chmod(a.cfg.Cache.Dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(a.cfg.Cache.Dir, 0o700)
	if os.Geteuid() == 0 {
		// root passes access(2) W_OK on any mode: make the directory go
		// away instead (the cache keeps its open descriptors).
		os.Chmod(a.cfg.Cache.Dir, 0o700)
		moved := a.cfg.Cache.Dir + ".moved"
		if err := os.Rename(a.cfg.Cache.Dir, moved); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(moved, a.cfg.Cache.Dir)
	}
	a.mets.AddReadiness("test2", func(context.Context) error { return nil })
	if code, body = httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "cache") {
		t.Errorf("/readyz with the cache directory unusable: got %d %q; want 503 naming the cache", code, body)
	}
}
