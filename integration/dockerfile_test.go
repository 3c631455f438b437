package integration

import (
	"bufio"
	"debug/elf"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// TestDockerfileBuildSteps runs the top-level Dockerfile's build step by hand (there
// is no Docker engine here): the same `go build` command, then the image's
// ENTRYPOINT and CMD (`serve --config FILE`) with a configuration file, in front of
// ganesha; a client reads through it and /readyz answers.
func TestDockerfileBuildSteps(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var build string
	var entry []string
	execForm := func(s string) []string {
		var argv []string
		for _, a := range strings.Split(strings.Trim(s, "[]"), ",") {
			argv = append(argv, strings.Trim(strings.TrimSpace(a), `"`))
		}
		return argv
	}
	sc := bufio.NewScanner(f)
	var cmdArgs, health []string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "RUN CGO_ENABLED=0 go build") {
			build = strings.TrimSuffix(strings.TrimPrefix(line, "RUN "), " \\")
		}
		if strings.HasPrefix(line, "ENTRYPOINT ") {
			entry = execForm(strings.TrimPrefix(line, "ENTRYPOINT "))
		}
		if strings.HasPrefix(line, "HEALTHCHECK ") {
			if _, argv, ok := strings.Cut(line, " CMD "); ok {
				health = execForm(argv)
			}
		}
		if strings.HasPrefix(line, "CMD ") {
			cmdArgs = execForm(strings.TrimPrefix(line, "CMD "))
		}
	}
	entry = append(entry, cmdArgs...) // what the image runs
	if build == "" || len(entry) < 4 || entry[1] != "serve" || entry[2] != "--config" {
		t.Fatalf("Dockerfile: build step %q, entrypoint+cmd %q; want a go build RUN line and serve --config", build, entry)
	}
	if len(health) < 2 || health[0] != entry[0] || health[1] != "health" {
		t.Fatalf("Dockerfile HEALTHCHECK CMD %q; want [%s health ...]", health, entry[0])
	}
	out := t.TempDir()
	build = strings.ReplaceAll(build, "/out/", out+"/")
	cmd := exec.Command("sh", "-c", build)
	cmd.Dir = ".."
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, o)
	}
	bin := filepath.Join(out, filepath.Base(entry[0]))
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the image's binary is dynamically linked; distroless/static needs a static one")
		}
	}
	ef.Close()

	g := harness.StartGaneshaT(t, harness.GaneshaOptions{})
	os.WriteFile(filepath.Join(g.Dir, "hello"), []byte("through the container's binary\n"), 0o644)
	port, mport := freeLoopbackPort(t), freeLoopbackPort(t)
	conf := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`listen: "127.0.0.1:%d"
metrics: { listen: "127.0.0.1:%d" }
cache: { dir: %q }
upstream: { unprivileged_port: true }
volumes:
  - id: 1
    upstream: "127.0.0.1:/export"
    nfs_port: %d
    mount_port: %d
    squash: { root: false }
`, port, mport, t.TempDir(), g.NFSPort, g.MountPort)), 0o644)
	imageConf := entry[3]
	p := exec.Command(bin, entry[1], entry[2], conf)
	logs := &lockedBuffer{} // read while the process still writes
	p.Stdout, p.Stderr = logs, logs
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { p.Process.Kill(); p.Wait() }()
	url := harness.LibNFSURL("127.0.0.1", port, port, "/export", "/hello")
	var got string
	var catErr error
	if !await.Poll(await.Deadline, func() bool {
		var out []byte
		out, _, catErr = harness.RunLibNFS(t.Context(), "nfs-cat", url)
		got = string(out)
		return catErr == nil
	}) {
		t.Fatalf("nfs-cat through the binary for %v: %v\n%s", await.Deadline, catErr, logs)
	}
	if got != "through the container's binary\n" {
		t.Fatalf("nfs-cat = %q", got)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", mport))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz: %v %v", err, resp)
	}
	resp.Body.Close()

	// The HEALTHCHECK, as the engine runs it, with this test's configuration
	// file where the image has its own.
	healthArgs := slices.Clone(health[1:])
	i := slices.Index(healthArgs, imageConf)
	if i < 0 {
		t.Fatalf("HEALTHCHECK %q does not read the image's configuration %s", health, imageConf)
	}
	healthArgs[i] = conf
	if o, err := exec.Command(bin, healthArgs...).CombinedOutput(); err != nil {
		t.Fatalf("HEALTHCHECK %q against the running binary: %v\n%s", healthArgs, err, o)
	}
	p.Process.Kill()
	p.Wait()
	if o, err := exec.Command(bin, healthArgs...).CombinedOutput(); err == nil {
		t.Fatalf("HEALTHCHECK passed with the proxy stopped:\n%s", o)
	}
}
