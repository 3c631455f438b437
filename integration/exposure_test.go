package integration

import (
	"fmt"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"net/http"
	"strings"
	"testing"

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
	log := p.log.String()
	const warning = "volume is open to every client address"
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

// TestAdminInvalidateRateLimited: POST /admin/invalidate is limited to one
// a second (bursts of 5); beyond that the answer is 429 with Retry-After,
// and each accepted call logs one line however many volumes it empties.
func TestAdminInvalidateRateLimited(t *testing.T) {
	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:%d\nmetrics: {listen: \"127.0.0.1:%d\"}\nupstream: {unprivileged_port: true}\nvolumes:\n", port, mport)+
		volumeYAML(41, "/one", g, "clients: [127.0.0.0/8]")+
		volumeYAML(42, "/two", g, "clients: [127.0.0.0/8]"))
	p := startServe(t, port, "--config", cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/admin/invalidate", mport)
	const posts = 50
	ok, limited := 0, 0
	for range posts {
		resp, err := http.Post(url, "text/plain", nil)
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
