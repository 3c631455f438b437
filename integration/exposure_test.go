package integration

import (
	"context"
	"fmt"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
)

// TestWarnsAboutVolumesOpenToEveryone: a volume without `clients` is open
// to every address (AUTH_SYS trusts the uid a client claims), so serve
// says so at start, once per such volume, and not for a restricted one.
func TestWarnsAboutVolumesOpenToEveryone(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port := freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", port)+
		volumeYAML(31, "/open", g)+
		volumeYAML(32, "/restricted", g, "clients: [127.0.0.0/8]"))
	p := startServe(t, port, "--config", cfg)
	const warning = "volume is open to every client address"
	// Volumes are set up (and warned about) before the "serving" line;
	// the output reaches the test through a pipe, so wait for that line.
	await.Until(t, "the serving line", func() bool { return strings.Contains(p.log.String(), `msg=serving`) })
	log := p.log.String()
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, warning) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "/open") || !strings.Contains(lines[0], "WARN") {
		t.Fatalf("got %d warning lines %q; want one WARN line naming /open\nlog:\n%s", len(lines), lines, log)
	}
}

// TestAdminInvalidateRateLimited: POST /admin/invalidate (on the admin
// socket) is limited to one a second (bursts of 5); beyond that the answer
// is 429 with Retry-After, and each accepted call logs one line however
// many volumes it empties.
func TestAdminInvalidateRateLimited(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"127.0.0.1:%d\"}\nadmin: {socket: %s}\nupstream: {unprivileged_port: true}\nvolumes:\n", port, mport, sock)+
		volumeYAML(41, "/one", g, "clients: [127.0.0.0/8]")+
		volumeYAML(42, "/two", g, "clients: [127.0.0.0/8]"))
	p := startServe(t, port, "--config", cfg)
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) }}
	defer tr.CloseIdleConnections()
	admin := &http.Client{Transport: tr}
	const url = "http://nfscacheproxy/admin/invalidate"
	const posts = 50
	ok, limited := 0, 0
	for range posts {
		resp, err := admin.Post(url, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("POST /admin/invalidate: %s; want 200 or 429", resp.Status)
		}
	}
	if ok < 1 || limited < posts-20 {
		t.Fatalf("%d accepted, %d limited of %d POSTs; want a burst of about 5 accepted and the rest limited", ok, limited, posts)
	}
	var lines int
	await.Until(t, "a log line per accepted invalidation", func() bool {
		lines = strings.Count(p.log.String(), "invalidated by request")
		return lines >= ok
	})
	if lines != ok {
		t.Fatalf("%d log lines for %d accepted invalidations of 2 volumes; want one per call", lines, ok)
	}
}

// TestUpstreamOutageVisible: when the upstream goes away, serve logs it
// once within seconds and nfscacheproxy_upstream_up drops to 0; when it is
// back and answers, that is logged once with the downtime and the gauge is
// 1 again.
func TestUpstreamOutageVisible(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"127.0.0.1:%d\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", port, mport)+
		volumeYAML(51, "/vol", g, "clients: [127.0.0.0/8]", "coherency: {mode: cto}"))
	p := startServe(t, port, "--config", cfg)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	up := func() float64 {
		_, body := scrape(t, metricsURL)
		return sample(body, "nfscacheproxy_upstream_up", `volume="51"`)
	}
	c := dialVolume(t, p.addr, "/vol", 0, 0)
	if _, st := c.getattr(c.root()); st != nfs3.StatOK {
		t.Fatalf("GETATTR: %v", st)
	}
	if got := up(); got != 1 {
		t.Fatalf("upstream_up = %v with ganesha serving; want 1", got)
	}

	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	await.Within(t, 5*time.Second, "the outage to be logged", func() bool { return strings.Contains(p.log.String(), "upstream down") })
	if got := up(); got != 0 {
		t.Fatalf("upstream_up = %v with ganesha stopped; want 0", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := g.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "a GETATTR through the proxy to succeed again", func() bool {
		_, st := c.getattr(c.root())
		return st == nfs3.StatOK
	})
	// The proxy's output reaches the test through a pipe: wait for it.
	await.Until(t, "the recovery to be logged", func() bool { return strings.Contains(p.log.String(), "upstream up again") })
	log := p.log.String()
	if n := strings.Count(log, "upstream down"); n != 1 {
		t.Fatalf("%d 'upstream down' lines for one outage; want 1\n%s", n, log)
	}
	if n := strings.Count(log, "upstream up again"); n != 1 || !strings.Contains(log, "down_for=") {
		t.Fatalf("%d 'upstream up again' lines (with down_for); want 1\n%s", n, log)
	}
	if got := up(); got != 1 {
		t.Fatalf("upstream_up = %v after the upstream answered again; want 1", got)
	}
}
