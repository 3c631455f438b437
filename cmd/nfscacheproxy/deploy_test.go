package main

// Checks that the deployment files in deploy/ agree with the program and
// with each other: flags exist, the configuration they carry validates,
// and the config and cache paths match everywhere.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	repoRoot  = "../.."
	deployDir = repoRoot + "/deploy"
)

// k8sBase is the kustomize base of the Kubernetes manifests.
const k8sBase = deployDir + "/kubernetes/base"

// k8sDoc is one YAML document of the Kubernetes manifests, generically decoded.
type k8sDoc struct {
	file string
	obj  map[string]any
}

func (d k8sDoc) kind() string { s, _ := d.obj["kind"].(string); return s }
func (d k8sDoc) name() string { s, _ := k8sDig(d.obj, "metadata", "name").(string); return s }

// k8sDig walks maps by key and slices by int index; nil when a step is missing.
func k8sDig(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func k8sList(v any) []any { s, _ := v.([]any); return s }

func k8sStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	}
	return ""
}

func loadK8s(t *testing.T) []k8sDoc {
	t.Helper()
	return loadYAMLDir(t, k8sBase)
}

// loadYAMLDir decodes every document of dir/*.yaml.
func loadYAMLDir(t *testing.T, dir string) []k8sDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s/*.yaml: %v", dir, err)
	}
	var docs []k8sDoc
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj == nil {
				continue
			}
			docs = append(docs, k8sDoc{file: filepath.Base(f), obj: obj})
		}
	}
	return docs
}

func findDoc(t *testing.T, docs []k8sDoc, kind, name string) k8sDoc {
	t.Helper()
	for _, d := range docs {
		if d.kind() == kind && (name == "" || d.name() == name) {
			return d
		}
	}
	t.Fatalf("%s: no %s %q", k8sBase, kind, name)
	return k8sDoc{}
}

// checkServeArgv checks an argv of the form [BINARY] serve FLAGS… against
// serveFlagNames and returns the flags' values (flag name → value; "" for
// a bare boolean).
func checkServeArgv(t *testing.T, where string, argv []string) map[string]string {
	t.Helper()
	if len(argv) > 0 && strings.HasSuffix(argv[0], "nfscacheproxy") {
		argv = argv[1:]
	}
	if len(argv) == 0 || argv[0] != "serve" {
		t.Errorf("%s: %q does not run the serve subcommand", where, argv)
		return nil
	}
	known := serveFlagNames()
	vals := map[string]string{}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: argument %q is not a flag (serve takes no positional arguments)", where, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !slices.Contains(known, name) {
			t.Errorf("%s: flag -%s is not a serve flag (serve has %v)", where, name, known)
			continue
		}
		if !hasVal && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			val = argv[i+1]
			i++
		}
		vals[name] = val
	}
	return vals
}

// dockerfile is what the test reads from the top-level Dockerfile.
type dockerfile struct {
	entrypoint  []string // ENTRYPOINT followed by CMD: what the image runs
	healthcheck []string // HEALTHCHECK CMD, exec form
	froms       []string // base image of each stage
	labels      map[string]string
	volumes     []string
	expose      []string
	copies      []string // destinations of COPY
}

// execForm decodes a JSON-array instruction argument.
func execForm(t *testing.T, instr, rest string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(rest), &argv); err != nil {
		t.Fatalf("Dockerfile %s %s: not the exec (JSON) form: %v", instr, rest, err)
	}
	return argv
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines first.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	d := dockerfile{labels: map[string]string{}}
	var entry, cmd []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d.froms = append(d.froms, strings.Fields(rest)[0])
		case "ENTRYPOINT":
			entry = execForm(t, instr, rest)
		case "CMD":
			cmd = execForm(t, instr, rest)
		case "HEALTHCHECK":
			_, argv, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatalf("Dockerfile HEALTHCHECK %s: no CMD", rest)
			}
			d.healthcheck = execForm(t, instr, strings.TrimSpace(argv))
		case "LABEL":
			for _, kv := range labelPairs.FindAllStringSubmatch(rest, -1) {
				d.labels[kv[1]] = kv[2]
			}
		case "VOLUME":
			d.volumes = append(d.volumes, strings.Fields(rest)...)
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		case "COPY":
			if f := strings.Fields(rest); len(f) > 0 {
				d.copies = append(d.copies, f[len(f)-1])
			}
		}
	}
	if len(d.froms) < 2 {
		t.Errorf("Dockerfile: %d stages; want a multi-stage build", len(d.froms))
	}
	if len(entry) == 0 {
		t.Fatal("Dockerfile: no ENTRYPOINT")
	}
	d.entrypoint = append(entry, cmd...)
	return d
}

// labelPairs matches KEY="VALUE" in a LABEL instruction.
var labelPairs = regexp.MustCompile(`([A-Za-z0-9._-]+)="([^"]*)"`)

// imageQualified reports why ref is not a fully qualified, versioned image
// name (registry host, repository, a tag other than latest or a digest),
// or "" when it is one. Stage names (FROM build) are not image names.
func imageQualified(ref string) string {
	host, rest, ok := strings.Cut(ref, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return "no registry host (short names are refused by buildah and podman)"
	}
	if _, digest, ok := strings.Cut(rest, "@"); ok && strings.HasPrefix(digest, "sha256:") {
		return ""
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "no tag"
	}
	if tag := rest[i+1:]; tag == "latest" || tag == "" {
		return "tag " + strconv.Quote(tag) + " does not name a version"
	}
	return ""
}

// unitFile reads deploy/nfscacheproxy.service as key → values.
func unitFile(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "nfscacheproxy.service"))
	if err != nil {
		t.Fatal(err)
	}
	u := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("nfscacheproxy.service: line %q is not KEY=VALUE", line)
			continue
		}
		u[k] = append(u[k], v)
	}
	return u
}

func portOf(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%q: not HOST:PORT", hostport)
	}
	return n
}

// TestDeployConfigK8s checks the Kubernetes manifests: the embedded
// configuration loads and validates, the container runs serve with real
// flags, the config and cache paths match the ConfigMap, the
// volumeClaimTemplate and the Dockerfile, and probes, ports, annotations
// and services point at what the configuration serves.
func TestDeployConfigK8s(t *testing.T) {
	docs := loadK8s(t)
	for _, d := range docs {
		if d.kind() == "" || k8sStr(d.obj["apiVersion"]) == "" {
			t.Errorf("%s: a document without apiVersion or kind", d.file)
		}
		if ns := k8sDig(d.obj, "metadata", "namespace"); ns != nil {
			t.Errorf("%s: %s %s sets metadata.namespace %v; the manifests are namespace-agnostic", d.file, d.kind(), d.name(), ns)
		}
	}
	df := readDockerfile(t)

	sts := findDoc(t, docs, "StatefulSet", "")
	pod := k8sDig(sts.obj, "spec", "template", "spec")
	containers := k8sList(k8sDig(pod, "containers"))
	if len(containers) != 1 {
		t.Fatalf("StatefulSet: %d containers; want 1", len(containers))
	}
	c := containers[0]
	var argv []string
	for _, a := range append(k8sList(k8sDig(c, "command")), k8sList(k8sDig(c, "args"))...) {
		argv = append(argv, k8sStr(a))
	}
	if k8sDig(c, "command") == nil { // args only: appended to the image's ENTRYPOINT
		argv = append(slices.Clone(df.entrypoint), argv...)
	}
	if len(argv) > 0 && argv[0] != df.entrypoint[0] {
		t.Errorf("StatefulSet command runs %q; the image has %q", argv[0], df.entrypoint[0])
	}
	flags := checkServeArgv(t, "StatefulSet container command/args", argv)
	configPath := flags["config"]
	if configPath == "" {
		t.Fatalf("StatefulSet: no --config in %q", argv)
	}
	if want := checkServeArgv(t, "Dockerfile ENTRYPOINT", df.entrypoint)["config"]; configPath != want {
		t.Errorf("StatefulSet --config %q; Dockerfile ENTRYPOINT has %q", configPath, want)
	}

	// Volumes: the ConfigMap at the config file's directory, the claim at cache.dir.
	mounts := map[string]string{} // volume name → mountPath
	for _, m := range k8sList(k8sDig(c, "volumeMounts")) {
		mounts[k8sStr(k8sDig(m, "name"))] = k8sStr(k8sDig(m, "mountPath"))
	}
	var cmName, cmVolume string
	for _, v := range k8sList(k8sDig(pod, "volumes")) {
		if n := k8sStr(k8sDig(v, "configMap", "name")); n != "" {
			cmName, cmVolume = n, k8sStr(k8sDig(v, "name"))
		}
	}
	if mounts[cmVolume] != path.Dir(configPath) {
		t.Errorf("ConfigMap volume %q mounted at %q; --config is %q", cmVolume, mounts[cmVolume], configPath)
	}
	cm := findDoc(t, docs, "ConfigMap", cmName)
	text, ok := k8sDig(cm.obj, "data", path.Base(configPath)).(string)
	if !ok {
		t.Fatalf("ConfigMap %s: no data key %q", cmName, path.Base(configPath))
	}
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		t.Fatalf("ConfigMap %s %s: %v", cmName, path.Base(configPath), err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("ConfigMap %s %s: Validate: %v", cmName, path.Base(configPath), err)
	}
	// And through LoadConfig, as the container reads it.
	p := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(p, []byte(text), 0o644)
	if c2, err := LoadConfig(p); err != nil || c2.Validate() != nil {
		t.Fatalf("ConfigMap config via LoadConfig: %v", err)
	}

	claims := k8sList(k8sDig(sts.obj, "spec", "volumeClaimTemplates"))
	if len(claims) != 1 {
		t.Fatalf("StatefulSet: %d volumeClaimTemplates; want 1 (the cache)", len(claims))
	}
	claim := k8sStr(k8sDig(claims[0], "metadata", "name"))
	if sc := k8sStr(k8sDig(claims[0], "spec", "storageClassName")); sc != "local-storage" {
		t.Errorf("cache claim storageClassName %q; want local-storage", sc)
	}
	if cfg.Cache.Dir == "" || mounts[claim] != cfg.Cache.Dir {
		t.Errorf("cache claim %q mounted at %q; cache.dir is %q", claim, mounts[claim], cfg.Cache.Dir)
	}
	if !slices.Contains(df.volumes, cfg.Cache.Dir) {
		t.Errorf("Dockerfile VOLUME %v; cache.dir is %q", df.volumes, cfg.Cache.Dir)
	}

	// Ports, probes, annotations.
	ports := map[string]int{} // name → containerPort
	for _, pt := range k8sList(k8sDig(c, "ports")) {
		ports[k8sStr(k8sDig(pt, "name"))], _ = strconv.Atoi(k8sStr(k8sDig(pt, "containerPort")))
	}
	metricsPort := portOf(t, cfg.Metrics.Listen)
	nfsPort := portOf(t, cfg.Listen)
	if ports["nfs"] != nfsPort || ports["metrics"] != metricsPort {
		t.Errorf("container ports %v; the configuration serves nfs on %d and metrics on %d", ports, nfsPort, metricsPort)
	}
	if !cfg.Portmap.Enabled || ports["portmap-tcp"] != portOf(t, cfg.Portmap.Listen) || ports["portmap-udp"] != portOf(t, cfg.Portmap.Listen) {
		t.Errorf("container ports %v; portmap %+v", ports, cfg.Portmap)
	}
	for probe, want := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		got := k8sStr(k8sDig(c, probe, "httpGet", "path"))
		port := k8sStr(k8sDig(c, probe, "httpGet", "port"))
		n, err := strconv.Atoi(port)
		if err != nil { // a named port
			n = ports[port]
		}
		if got != want || n != metricsPort {
			t.Errorf("%s: GET %s on port %q; want %s on the metrics port %d", probe, got, port, want, metricsPort)
		}
	}
	ann := k8sDig(sts.obj, "spec", "template", "metadata", "annotations")
	if k8sStr(k8sDig(ann, "prometheus.io/scrape")) != "true" || k8sStr(k8sDig(ann, "prometheus.io/port")) != strconv.Itoa(metricsPort) || k8sStr(k8sDig(ann, "prometheus.io/path")) != "/metrics" {
		t.Errorf("pod annotations %v; want prometheus.io/scrape \"true\", port %d, path /metrics", ann, metricsPort)
	}

	grace, _ := k8sDig(pod, "terminationGracePeriodSeconds").(int)
	if time.Duration(grace)*time.Second <= cfg.DrainTimeout.Duration {
		t.Errorf("terminationGracePeriodSeconds %d; want more than drain_timeout %v", grace, cfg.DrainTimeout)
	}

	// Services select the pods; target ports exist; the headless one governs.
	podLabels, _ := k8sDig(sts.obj, "spec", "template", "metadata", "labels").(map[string]any)
	var headless, client bool
	for _, d := range docs {
		if d.kind() != "Service" {
			continue
		}
		for k, v := range k8sDig(d.obj, "spec", "selector").(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("Service %s selects %s=%v; the pods have %v", d.name(), k, v, podLabels)
			}
		}
		have := map[string]bool{}
		for _, pt := range k8sList(k8sDig(d.obj, "spec", "ports")) {
			target := k8sStr(k8sDig(pt, "targetPort"))
			if _, ok := ports[target]; !ok {
				t.Errorf("Service %s targets port %q; the container has %v", d.name(), target, ports)
			}
			have[k8sStr(k8sDig(pt, "port"))+"/"+k8sStr(k8sDig(pt, "protocol"))] = true
		}
		if k8sStr(k8sDig(d.obj, "spec", "clusterIP")) == "None" {
			headless = true
			if d.name() != k8sStr(k8sDig(sts.obj, "spec", "serviceName")) {
				t.Errorf("headless Service %s; StatefulSet serviceName is %v", d.name(), k8sDig(sts.obj, "spec", "serviceName"))
			}
			continue
		}
		client = true
		for _, want := range []string{"2049/TCP", "111/TCP", "111/UDP"} {
			if !have[want] {
				t.Errorf("Service %s: no port %s (has %v)", d.name(), want, have)
			}
		}
		if k8sStr(k8sDig(d.obj, "spec", "sessionAffinity")) != "ClientIP" {
			t.Errorf("Service %s: sessionAffinity %v; want ClientIP", d.name(), k8sDig(d.obj, "spec", "sessionAffinity"))
		}
	}
	if !headless || !client {
		t.Errorf("%s: headless service %v, client service %v; want both", k8sBase, headless, client)
	}
}

// TestDeployConfigDockerfile checks the top-level Dockerfile: fully
// qualified, versioned base images, the image's entry point, health
// check, OCI labels, volume and ports, and the .dockerignore beside it.
func TestDeployConfigDockerfile(t *testing.T) {
	df := readDockerfile(t)
	for _, from := range df.froms {
		if why := imageQualified(from); why != "" {
			t.Errorf("FROM %s: %s; want e.g. docker.io/library/golang:1.26-bookworm", from, why)
		}
	}
	if hc := df.healthcheck; len(hc) < 2 || hc[0] != df.entrypoint[0] || hc[1] != "health" {
		t.Errorf("HEALTHCHECK CMD %q; want [%s health ...]", hc, df.entrypoint[0])
	}
	for _, l := range []string{"title", "description", "source", "version", "revision"} {
		if df.labels["org.opencontainers.image."+l] == "" {
			t.Errorf("no LABEL org.opencontainers.image.%s (labels %v)", l, df.labels)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "bin/"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "*.go"} {
		if slices.Contains(strings.Fields(string(ignore)), keep) {
			t.Errorf(".dockerignore excludes %s, which the build stage needs", keep)
		}
	}
	flags := checkServeArgv(t, "Dockerfile ENTRYPOINT", df.entrypoint)
	if flags["config"] != "/etc/nfscacheproxy/config.yaml" {
		t.Errorf("ENTRYPOINT --config %q; want /etc/nfscacheproxy/config.yaml", flags["config"])
	}
	if !slices.Contains(df.copies, df.entrypoint[0]) {
		t.Errorf("ENTRYPOINT runs %q, which no COPY puts there (%v)", df.entrypoint[0], df.copies)
	}
	if !slices.Equal(df.volumes, []string{"/var/cache/nfscacheproxy"}) {
		t.Errorf("VOLUME %v; want [/var/cache/nfscacheproxy]", df.volumes)
	}
	for _, want := range []string{"2049", "111", "9102"} {
		if !slices.ContainsFunc(df.expose, func(e string) bool { return e == want || strings.HasPrefix(e, want+"/") }) {
			t.Errorf("EXPOSE %v: no %s", df.expose, want)
		}
	}
	def := DefaultConfig()
	for _, l := range []string{def.Listen, def.Portmap.Listen, def.Metrics.Listen} {
		p := strconv.Itoa(portOf(t, l))
		if !slices.ContainsFunc(df.expose, func(e string) bool { return e == p || strings.HasPrefix(e, p+"/") }) {
			t.Errorf("EXPOSE %v: no default port %s", df.expose, p)
		}
	}
}

// TestDeployConfigSystemd checks the unit's ExecStart and directories
// against serve's flags and the example configuration.
func TestDeployConfigSystemd(t *testing.T) {
	u := unitFile(t)
	exec := u["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("ExecStart: %q; want one", exec)
	}
	argv := strings.Fields(exec[0])
	if !path.IsAbs(argv[0]) {
		t.Errorf("ExecStart binary %q is not absolute", argv[0])
	}
	flags := checkServeArgv(t, "systemd ExecStart", argv)
	if conf := u["ConfigurationDirectory"]; len(conf) != 1 || flags["config"] != path.Join("/etc", conf[0], "config.yaml") {
		t.Errorf("ExecStart --config %q; ConfigurationDirectory %q", flags["config"], conf)
	}
	example, err := LoadConfig(filepath.Join(deployDir, "nfscacheproxy.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cache := u["CacheDirectory"]; len(cache) != 1 || path.Join("/var/cache", cache[0]) != example.Cache.Dir {
		t.Errorf("CacheDirectory %q; the example's cache.dir is %q", cache, example.Cache.Dir)
	}
	if rw := strings.Fields(strings.Join(u["ReadWritePaths"], " ")); !slices.ContainsFunc(rw, func(p string) bool { return strings.TrimPrefix(p, "-") == example.Cache.Dir }) {
		t.Errorf("ReadWritePaths %q; want the example's cache.dir %q", rw, example.Cache.Dir)
	}
	for key, want := range map[string]string{
		"Type":                  "notify", // serve sends READY=1 (TestServeNotifiesSystemd)
		"NotifyAccess":          "main",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"StateDirectory":        "nfscacheproxy",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
	} {
		if !slices.Contains(u[key], want) {
			t.Errorf("%s: %q; want %q", key, u[key], want)
		}
	}
	stop := u["TimeoutStopSec"]
	if len(stop) != 1 {
		t.Fatalf("TimeoutStopSec: %q; want one", stop)
	}
	if d, err := time.ParseDuration(stop[0]); err != nil || d <= example.DrainTimeout.Duration {
		t.Errorf("TimeoutStopSec %s; want a duration above the example's drain_timeout %v", stop[0], example.DrainTimeout)
	}
}

func TestImageQualified(t *testing.T) {
	for _, tc := range []struct {
		ref string
		ok  bool
	}{
		{"docker.io/library/golang:1.26-bookworm", true},
		{"gcr.io/distroless/static-debian12:nonroot", true},
		{"localhost/nfscacheproxy:v1", true},
		{"registry.example.com:5000/x/y:1.2", true},
		{"docker.io/library/debian@sha256:0123", true},
		{"golang:1.26-bookworm", false},
		{"library/golang:1.26", false},
		{"docker.io/library/golang", false},
		{"docker.io/library/golang:latest", false},
	} {
		if got := imageQualified(tc.ref) == ""; got != tc.ok {
			t.Errorf("imageQualified(%q) = %q; want ok %v", tc.ref, imageQualified(tc.ref), tc.ok)
		}
	}
}

// kustomization reads dir/kustomization.yaml.
func kustomization(t *testing.T, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return k
}

// TestDeployKubernetes checks what an operator relies on in the kustomize
// base and its example overlay: every manifest is a resource of the base,
// a versioned image, requests and limits, only NET_BIND_SERVICE added to
// dropped capabilities, the cache on a claim, a PodDisruptionBudget and a
// NetworkPolicy that selects the pods and admits only the NFS, portmapper
// and metrics ports; the overlay builds on the base and its configuration
// validates.
func TestDeployKubernetes(t *testing.T) {
	docs := loadK8s(t)

	// The base lists every manifest beside it, and only those.
	var listed []string
	for _, r := range k8sList(kustomization(t, k8sBase)["resources"]) {
		listed = append(listed, k8sStr(r))
	}
	files, _ := filepath.Glob(filepath.Join(k8sBase, "*.yaml"))
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	slices.Sort(listed)
	slices.Sort(onDisk)
	if !slices.Equal(listed, onDisk) {
		t.Errorf("kustomization resources %v; the base has %v", listed, onDisk)
	}

	sts := findDoc(t, docs, "StatefulSet", "")
	podLabels, _ := k8sDig(sts.obj, "spec", "template", "metadata", "labels").(map[string]any)
	selects := func(kind string, sel any) {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s: empty pod selector", kind)
		}
		for k, v := range m {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v; the pods have %v", kind, k, v, podLabels)
			}
		}
	}
	c := k8sDig(sts.obj, "spec", "template", "spec", "containers", 0)
	image := k8sStr(k8sDig(c, "image"))
	if why := imageQualified(image); why != "" {
		t.Errorf("container image %q: %s", image, why)
	}
	for _, r := range []string{"requests", "limits"} {
		if k8sStr(k8sDig(c, "resources", r, "memory")) == "" {
			t.Errorf("container resources.%s.memory unset", r)
		}
	}
	if k8sStr(k8sDig(c, "resources", "requests", "cpu")) == "" {
		t.Errorf("container resources.requests.cpu unset")
	}
	caps := k8sDig(c, "securityContext", "capabilities")
	if d := k8sList(k8sDig(caps, "drop")); len(d) != 1 || d[0] != "ALL" {
		t.Errorf("capabilities.drop %v; want [ALL]", d)
	}
	if a := k8sList(k8sDig(caps, "add")); len(a) != 1 || a[0] != "NET_BIND_SERVICE" {
		t.Errorf("capabilities.add %v; want [NET_BIND_SERVICE]", a)
	}
	if v, _ := k8sDig(c, "securityContext", "allowPrivilegeEscalation").(bool); v {
		t.Errorf("allowPrivilegeEscalation true")
	}
	if v, _ := k8sDig(sts.obj, "spec", "template", "spec", "securityContext", "runAsNonRoot").(bool); !v {
		t.Errorf("pod securityContext.runAsNonRoot not true")
	}

	pdb := findDoc(t, docs, "PodDisruptionBudget", "")
	selects("PodDisruptionBudget", k8sDig(pdb.obj, "spec", "selector", "matchLabels"))
	if k8sDig(pdb.obj, "spec", "maxUnavailable") == nil && k8sDig(pdb.obj, "spec", "minAvailable") == nil {
		t.Errorf("PodDisruptionBudget: neither maxUnavailable nor minAvailable")
	}

	np := findDoc(t, docs, "NetworkPolicy", "")
	selects("NetworkPolicy", k8sDig(np.obj, "spec", "podSelector", "matchLabels"))
	if types := k8sList(k8sDig(np.obj, "spec", "policyTypes")); !slices.Contains(types, any("Ingress")) {
		t.Errorf("NetworkPolicy policyTypes %v; want Ingress", types)
	}
	admitted := map[string]bool{}
	for _, rule := range k8sList(k8sDig(np.obj, "spec", "ingress")) {
		ports := k8sList(k8sDig(rule, "ports"))
		if len(ports) == 0 {
			t.Errorf("NetworkPolicy: an ingress rule without ports admits every port: %v", rule)
		}
		if len(k8sList(k8sDig(rule, "from"))) == 0 {
			t.Errorf("NetworkPolicy: an ingress rule without from admits every source: %v", rule)
		}
		for _, p := range ports {
			admitted[k8sStr(k8sDig(p, "port"))+"/"+k8sStr(k8sDig(p, "protocol"))] = true
		}
	}
	want := map[string]bool{"2049/TCP": true, "111/TCP": true, "111/UDP": true, "9102/TCP": true}
	if !maps.Equal(admitted, want) {
		t.Errorf("NetworkPolicy admits %v; want exactly %v", admitted, want)
	}

	// The example overlay builds on the base, pins a version, and its
	// patch files exist; its configuration validates.
	overlay := filepath.Join(deployDir, "kubernetes", "overlays", "example")
	k := kustomization(t, overlay)
	if r := k8sList(k["resources"]); !slices.Contains(r, any("../../base")) {
		t.Errorf("overlay resources %v; want ../../base", r)
	}
	for _, img := range k8sList(k["images"]) {
		if tag := k8sStr(k8sDig(img, "newTag")); tag == "" || tag == "latest" {
			t.Errorf("overlay image %v: tag %q; want a version", img, tag)
		}
	}
	for _, p := range k8sList(k["patches"]) {
		f := k8sStr(k8sDig(p, "path"))
		data, err := os.ReadFile(filepath.Join(overlay, f))
		if err != nil {
			t.Errorf("overlay patch %s: %v", f, err)
			continue
		}
		var patch map[string]any
		if yaml.Unmarshal(data, &patch) != nil || k8sStr(patch["kind"]) != "ConfigMap" {
			continue // a JSON patch
		}
		text := k8sStr(k8sDig(patch, "data", "config.yaml"))
		cfg, err := parseConfig([]byte(text))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf("overlay %s: config.yaml: %v", f, err)
		}
	}
}
