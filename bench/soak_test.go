package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/demoserver"
)

// tinySoak is a soak small enough for unit tests.
func tinySoak() SoakParams {
	p := SoakParams{Duration: 2 * time.Second, Clients: 4, Files: 3, FileSize: 64 << 10, OwnSize: 32 << 10, IOSize: 16 << 10, Think: time.Millisecond}
	p.setDefaults()
	return p
}

// startSoakDemo writes the soak data set into a directory served by the
// go-nfs demo server.
func startSoakDemo(t *testing.T, p *SoakParams) (*soakData, Target) {
	t.Helper()
	dir := t.TempDir()
	d, err := writeSoakData(dir, p)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := demoserver.Start(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return d, Target{Host: "127.0.0.1", NFSPort: srv.Port(), MountPort: srv.Port(), Export: "/export"}
}

// TestSoakLoad runs the soak's clients against the demo server: every kind
// of op runs and checks out, and the final check passes.
func TestSoakLoad(t *testing.T) {
	p := tinySoak()
	d, target := startSoakDemo(t, &p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctrs, err := runSoakLoad(ctx, target, d, &p, &Options{}, time.Hour)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ops := ctrs.snapshot()
	t.Logf("ops: %+v", ops)
	for name, n := range map[string]int64{"reads": ops.Reads, "writes": ops.Writes, "stats": ops.Stats, "lists": ops.Lists, "churns": ops.Churns} {
		if n == 0 {
			t.Errorf("%s: 0 in %v; want some", name, p.Duration)
		}
	}
	if ops.ReadBytes < ops.Reads*int64(p.IOSize) || ops.WriteBytes != ops.Writes*int64(p.IOSize) {
		t.Errorf("bytes: read %d in %d reads, wrote %d in %d writes of %d", ops.ReadBytes, ops.Reads, ops.WriteBytes, ops.Writes, p.IOSize)
	}
	n, err := d.verify(ctx, target)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if want := int64(p.Files)*p.FileSize + int64(p.Clients)*p.OwnSize; n != want {
		t.Errorf("verified %d bytes; want %d", n, want)
	}
}

// TestSoakCatchesWrongData: a byte flipped on the server's disk fails the
// load (a read of the file) and the final check; so does an own file that
// does not hold the generation the client wrote last.
func TestSoakCatchesWrongData(t *testing.T) {
	p := tinySoak()
	p.Files = 1
	d, target := startSoakDemo(t, &p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	own := filepath.Join(d.root, "own", ownName(1))
	d.own[1][1] = 7 // the model says generation 7; the disk holds 0
	if _, err := d.verify(ctx, target); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), ownName(1)) {
		t.Fatalf("verify with a stale own slot: %v; want ErrVerify naming %s", err, ownName(1))
	}
	d.own[1][1] = 0
	if _, err := os.Stat(own); err != nil {
		t.Fatal(err)
	}

	shared := filepath.Join(d.root, "shared", sharedName(0))
	b, err := os.ReadFile(shared)
	if err != nil {
		t.Fatal(err)
	}
	b[3*pageSize+5] ^= 0xff // a stamp byte of page 3
	if err := os.WriteFile(shared, b, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err = runSoakLoad(ctx, target, d, &p, &Options{}, time.Hour)
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("load over a corrupted file: %v; want ErrVerify", err)
	}
	if _, err := d.verify(ctx, target); !errors.Is(err, ErrVerify) {
		t.Fatalf("verify of a corrupted file: %v; want ErrVerify", err)
	}
}

func TestSoakAnalyse(t *testing.T) {
	flat := func(g, fds int) func(i int) SoakSample {
		return func(i int) SoakSample {
			return SoakSample{RSS: 50 << 20, Goroutines: g + i%3, FDs: fds + i%2}
		}
	}
	tests := []struct {
		name     string
		n        int
		sample   func(i int) SoakSample
		failed   bool // the run failed before
		want     string
		problems int
	}{
		{"flat", 20, flat(40, 70), false, "", 0},
		{"goroutines grow", 20, func(i int) SoakSample { return SoakSample{Goroutines: 40 + 10*i, FDs: 70} }, false, "goroutines: grew", 1},
		{"fds grow", 20, func(i int) SoakSample { return SoakSample{Goroutines: 40, FDs: 20 + 3*i} }, false, "open FDs: grew", 1},
		{"rss grows: not checked", 20, func(i int) SoakSample { return SoakSample{RSS: int64(i) << 30, Goroutines: 40, FDs: 70} }, false, "", 0},
		{"one spike", 20, func(i int) SoakSample {
			s := flat(40, 70)(i)
			if i == 15 {
				s.Goroutines = 500
			}
			return s
		}, false, "", 0},
		{"too few samples", 4, flat(40, 70), false, "samples in the two halves", 2},
		{"stopped early: not judged", 2, flat(40, 70), true, "earlier", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Soak{Params: SoakParams{Duration: 20 * time.Second}}
			s.Params.setDefaults()
			for i := range tt.n {
				x := tt.sample(i)
				x.At = time.Duration(i) * s.Params.Duration / time.Duration(tt.n)
				s.Samples = append(s.Samples, x)
			}
			if tt.failed {
				s.fail(errors.New("earlier"))
			}
			s.analyse()
			if got := len(s.Failures) - btoi(tt.failed); got != tt.problems {
				t.Fatalf("got %d new failures %q; want %d", got, s.Failures, tt.problems)
			}
			if tt.want != "" && !strings.Contains(strings.Join(s.Failures, "\n"), tt.want) {
				t.Fatalf("failures %q; want one containing %q", s.Failures, tt.want)
			}
			if len(s.Series) != 5 || s.Series[0].First != float64(tt.sample(0).RSS)/(1<<20) {
				t.Fatalf("series %+v", s.Series)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestVMRSS(t *testing.T) {
	got, err := vmRSS("Name:\tx\nVmPeak:\t 999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n")
	if err != nil || got != 12345<<10 {
		t.Fatalf("got %d, %v; want %d", got, err, 12345<<10)
	}
	if _, err := vmRSS("Name:\tx\n"); err == nil {
		t.Fatal("no VmRSS: got no error")
	}
	// Our own process, as the soak reads the proxy's.
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	if got, err := vmRSS(string(b)); err != nil || got <= 0 {
		t.Fatalf("own VmRSS: %d, %v", got, err)
	}
}

func TestSoakWriteText(t *testing.T) {
	s := &Soak{Upstream: "nfs-ganesha V4.3", Params: tinySoak(), Restarts: 3, Culls: 12, VerifiedBytes: 1 << 20,
		Ops: SoakOps{Reads: 10, Writes: 5}}
	for i := range 10 {
		s.Samples = append(s.Samples, SoakSample{At: time.Duration(i) * 200 * time.Millisecond, RSS: 30 << 20, Goroutines: 20, FDs: 30})
	}
	s.analyse()
	var b bytes.Buffer
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"restarted 3 times", "12 cache culls", "goroutines", "open FDs", "RSS (MiB)", "Go heap in use (MiB)", "not checked", "\nPASS\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	s.fail(errors.New("boom"))
	b.Reset()
	s.WriteText(&b)
	if !strings.Contains(b.String(), "FAIL\n  boom") {
		t.Errorf("failed soak text:\n%s", b.String())
	}
}

func TestSoakParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*SoakParams)
		want string
	}{
		{"defaults", func(*SoakParams) {}, ""},
		{"short", func(p *SoakParams) { p.Duration = time.Millisecond }, "Duration"},
		{"no clients", func(p *SoakParams) { p.Clients = -1 }, "Clients"},
		{"odd io", func(p *SoakParams) { p.IOSize = 1000 }, "IOSize"},
		{"file not whole ios", func(p *SoakParams) { p.FileSize = 100 << 10 }, "FileSize"},
		{"no restarts", func(p *SoakParams) { p.RestartEvery = -1 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p SoakParams
			tt.mod(&p)
			p.setDefaults()
			err := p.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v; want an error naming %q (none if empty)", err, tt.want)
			}
		})
	}
	p := SoakParams{Duration: 10 * time.Minute}.WithDefaults()
	if p.RestartEvery != time.Minute || p.SampleEvery != 10*time.Second || p.Clients != 16 {
		t.Errorf("defaults for 10m: restart every %v, sample every %v, %d clients; want 1m, 10s, 16", p.RestartEvery, p.SampleEvery, p.Clients)
	}
	p = SoakParams{Duration: 25 * time.Second}.WithDefaults()
	if p.RestartEvery != 5*time.Second || p.SampleEvery != time.Second {
		t.Errorf("defaults for 25s: restart every %v, sample every %v; want 5s, 1s", p.RestartEvery, p.SampleEvery)
	}
}
