package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/bench"
)

// TestSoak (issue 7) runs `nfscacheproxy-bench --soak` for 25s: 16 clients
// against nfs-ganesha (restarted every 5s) through the proxy binary with a
// 16 MiB cache (culled all the time). The soak itself fails on any wrong
// byte and on goroutines or descriptors of the proxy growing from the first
// half of the run to the second; this test also checks that the run did
// what it claims (restarts, culls, every kind of op, the final check).
func TestSoak(t *testing.T) {
	const duration = 25 * time.Second
	proxyBin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := buildBenchBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--proxy-bin", proxyBin, "--soak", "--duration", duration.String(), "--json", "--quiet")
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 20 * time.Second
	runErr := cmd.Run()

	var s bench.Soak
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("soak: %v; output is not a soak report (%v):\n%s\nstderr:\n%s", runErr, err, out.String(), errb.String())
	}
	var text strings.Builder
	s.WriteText(&text)
	t.Logf("soak report:\n%s", text.String())
	if runErr != nil || !s.Passed() {
		t.Fatalf("soak failed: %v\nstderr:\n%s", runErr, errb.String())
	}

	p := s.Params
	checks := []struct {
		what string
		ok   bool
	}{
		{"16 clients for 25s", p.Clients == 16 && p.Duration == duration},
		{"at least 3 upstream restarts", s.Restarts >= 3},
		{"the proxy reconnected to the upstream", s.UpstreamReconnects >= float64(s.Restarts)},
		{"cache culls", s.Culls > 0},
		{"reads, writes, stats, listings and scratch files", s.Ops.Reads > 0 && s.Ops.Writes > 0 && s.Ops.Stats > 0 && s.Ops.Lists > 0 && s.Ops.Churns > 0},
		{"every file checked at the end", s.VerifiedBytes == int64(p.Files)*p.FileSize+int64(p.Clients)*p.OwnSize},
		{"a sample a second", len(s.Samples) >= int(duration/time.Second)-2},
		{"goroutines and FDs judged", judged(s.Series, "goroutines") && judged(s.Series, "open FDs")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("soak report: want %s", c.what)
		}
	}
}

// judged reports whether the series named name was checked and passed.
func judged(series []bench.SoakSeries, name string) bool {
	for _, se := range series {
		if se.Name == name {
			return se.Checked && se.OK
		}
	}
	return false
}
