package integration

import (
	"context"
	"errors"
	"fmt"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
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

// TestUnreachableVolumeAtStartServedLater (issue 18): with two volumes,
// one upstream nothing listens on at start does not stop the proxy: the
// other volume is served, the missing one answers MNT with an error and is
// exported as down, and once its upstream comes up it is served without a
// restart.
func TestUnreachableVolumeAtStartServedLater(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	lateNFS, lateMount := freeLoopbackPort(t), freeLoopbackPort(t) // closed until ganesha starts there
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"127.0.0.1:%d\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", port, mport)+
		volumeYAML(71, "/good", g, "clients: [127.0.0.0/8]")+
		fmt.Sprintf("  - id: 72\n    name: /late\n    upstream: 127.0.0.1:%s\n    nfs_port: %d\n    mount_port: %d\n    clients: [127.0.0.0/8]\n", g.Export, lateNFS, lateMount))
	p := startServe(t, port, "--config", cfg)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	up := func(vol string) float64 {
		_, body := scrape(t, metricsURL)
		return sample(body, "nfscacheproxy_upstream_up", `volume="`+vol+`"`)
	}

	c := dialVolume(t, p.addr, "/good", 0, 0)
	if _, st := c.getattr(c.root()); st != nfs3.StatOK {
		t.Fatalf("GETATTR on the reachable volume: %v", st)
	}
	mountLate := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		lc, err := upstream.Dial(ctx, upstream.Options{Server: "127.0.0.1", Export: "/late", NFSPort: port, MountPort: port, UnprivilegedPort: true, Conns: 1})
		if err == nil {
			lc.Close()
		}
		return err
	}
	if err := mountLate(); !errors.Is(err, upstream.ErrMountDenied) {
		t.Fatalf("MNT /late with its upstream down: %v; want a refusal (MNT3ERR_SERVERFAULT)", err)
	}
	if got, want := up("71"), 1.0; got != want {
		t.Fatalf("upstream_up{volume=71} = %v; want %v", got, want)
	}
	if got := up("72"); got != 0 {
		t.Fatalf("upstream_up{volume=72} = %v with nothing listening; want 0", got)
	}

	// The missing upstream comes up where the configuration points.
	g2 := harness.StartGaneshaT(t, harness.GaneshaOptions{NFSPort: lateNFS, MountPort: lateMount})
	if g2.NFSPort != lateNFS || g2.MountPort != lateMount || g2.Export != g.Export {
		t.Fatalf("second ganesha on %d/%d exporting %s; want %d/%d and %s", g2.NFSPort, g2.MountPort, g2.Export, lateNFS, lateMount, g.Export)
	}
	if err := os.WriteFile(filepath.Join(g2.Dir, "hello"), []byte("late"), 0o644); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "MNT of /late to succeed without a restart", func() bool { return mountLate() == nil })
	lc := dialVolume(t, p.addr, "/late", 0, 0)
	if got := lc.readAll(lc.mustLookup(lc.root(), "hello")); string(got) != "late" {
		t.Fatalf("read /late/hello: %q; want %q", got, "late")
	}
	if got := up("72"); got != 1 {
		t.Fatalf("upstream_up{volume=72} = %v once mounted; want 1", got)
	}
	await.Until(t, "the volume serving line", func() bool { return strings.Contains(p.log.String(), "volume serving") })
	log := p.log.String()
	for _, line := range []string{"upstream unreachable at start", "upstream up again", "volume serving"} {
		if n := strings.Count(log, line); n != 1 {
			t.Fatalf("%d %q lines; want 1\n%s", n, line, log)
		}
	}
}

// TestUnreachableAtStartFailsWhenNothingToServe: with a single volume, or
// when no volume's upstream answers, serve has nothing to serve and exits
// at start with an error naming the volume, as before.
func TestUnreachableAtStartFailsWhenNothingToServe(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	closedVolume := func(id int) string {
		p := freeLoopbackPort(t) // closed: nothing listens there
		return fmt.Sprintf("  - id: %d\n    name: /v%d\n    upstream: 127.0.0.1:/export\n    nfs_port: %d\n    mount_port: %d\n    clients: [127.0.0.0/8]\n", id, id, p, p)
	}
	for _, tc := range []struct {
		name    string
		volumes string
		want    string
	}{
		{"one volume", closedVolume(81), "volumes[0] (id 81)"},
		{"every volume", closedVolume(82) + closedVolume(83), "no volume's upstream is reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", freeLoopbackPort(t))+tc.volumes)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "serve", "--config", cfg).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("serve still running after %v; want it to exit at start\n%s", 2*time.Minute, out)
			}
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("serve: %v; want a failure mentioning %q\n%s", err, tc.want, out)
			}
		})
	}
}
