package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

// minimal is the smallest valid file.
const minimal = `
volumes:
  - id: 1
    upstream: "filer:/export"
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigExampleFile(t *testing.T) {
	c, err := Load("../deploy/nfscacheproxy.example.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The example shows the defaults, so apart from cache.dir, the
	// clients and the second volume it equals them.
	d := Default()
	d.Cache.Dir = "/var/cache/nfscacheproxy"
	v1 := DefaultVolume()
	v1.ID, v1.Name, v1.Upstream = 1, "/export", "filer.example.com:/export"
	v1.Clients = []string{"10.0.0.0/8", "192.168.1.5", "fd00::/8"}
	v2 := DefaultVolume()
	v2.ID, v2.Upstream, v2.ReadOnly, v2.Coherency.Mode = 2, "filer.example.com:/datasets", true, "static"
	d.Volumes = []VolumeConfig{v1, v2}
	if !reflect.DeepEqual(c, d) {
		t.Errorf("example file:\ngot  %+v\nwant %+v", c, d)
	}
	if got := c.Volumes[1].MountPath(); got != "/datasets" {
		t.Errorf("volumes[1].MountPath(): got %q; want /datasets", got)
	}
}

// TestConfigExampleEveryField checks the example file sets every key the
// Config type has, so it stays complete as fields are added.
func TestConfigExampleEveryField(t *testing.T) {
	data, err := os.ReadFile("../deploy/nfscacheproxy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var idx []posEntry
	indexPaths(&root, "", &idx)
	have := map[string]bool{}
	for _, e := range idx {
		if e.key {
			have[stripIndexes(e.path)] = true
		}
	}
	for _, want := range yamlKeys(reflect.TypeOf(Config{}), "") {
		if !have[want] {
			t.Errorf("example file: no key %s", want)
		}
	}
}

func stripIndexes(p string) string {
	for {
		i := strings.Index(p, "[")
		if i < 0 {
			return p
		}
		j := strings.Index(p[i:], "]")
		p = p[:i] + p[i+j+1:]
	}
}

// yamlKeys lists the leaf key paths of t.
func yamlKeys(t reflect.Type, at string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		p := tag
		if at != "" {
			p = at + "." + tag
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration{}) {
			out = append(out, yamlKeys(ft, p)...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

func TestConfigGoodFile(t *testing.T) {
	text := `
listen: "0.0.0.0:2049"
mount_listen: ":20048"
portmap: { enabled: true, listen: "127.0.0.1:111" }
metrics: { listen: "127.0.0.1:9102", pprof: true }
log: { level: debug, format: json }
drain_timeout: 1m30s
cache: { dir: /srv/cache, granule: 1MiB, max_size: 10GiB, brun: 20, bcull: 15, bstop: 5, frun: 12, fcull: 8, fstop: 0, readahead: 0, paranoid: true, flush_delay: 250ms, sendfile: false }
upstream: { conns: 4, timeout: 5s, retries: 0, unprivileged_port: true }
volumes:
  - id: 7
    upstream: "[fd00::1]:/srv/data"
    clients: ["10.0.0.0/8", "::1"]
    squash: { root: false, all: true, anon_uid: 1000, anon_gid: 4294967295 }
    coherency: { mode: cto }
    failure: { mode: soft, soft_timeout: 5s, serve_stale: true }
  - id: 8
    name: /scratch
    upstream: "filer2:/export"
    nfs_port: 2049
    mount_port: 635
    secure_ports: true
`
	c, err := Load(writeConfig(t, text))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "0.0.0.0:2049"},
		{"portmap", c.Portmap, PortmapConfig{Enabled: true, Listen: "127.0.0.1:111"}},
		{"log", c.Log, LogConfig{"debug", "json"}},
		{"drain_timeout", c.DrainTimeout.Duration, 90 * time.Second},
		{"cache.granule", c.Cache.Granule, Size(1 << 20)},
		{"cache.max_size", c.Cache.MaxSize, Size(10 << 30)},
		{"cache.fstop", c.Cache.FStop, 0},
		{"cache.readahead", c.Cache.Readahead, 0},
		{"cache.paranoid", c.Cache.Paranoid, true},
		{"cache.flush_delay", c.Cache.FlushDelay.Duration, 250 * time.Millisecond},
		{"cache.sendfile", c.Cache.Sendfile, false},
		{"upstream", c.Upstream, UpstreamConfig{Conns: 4, Timeout: Duration{5 * time.Second}, Retries: 0, UnprivilegedPort: true}},
		{"volumes[0].name", c.Volumes[0].MountPath(), "/srv/data"},
		{"volumes[0].squash", c.Volumes[0].Squash, SquashConfig{Root: false, All: true, AnonUID: 1000, AnonGID: 4294967295}},
		{"volumes[0].coherency", c.Volumes[0].Coherency, CoherencyConfig{Mode: "cto", ACRegMin: Duration{3 * time.Second}, ACRegMax: Duration{time.Minute}, ACDirMin: Duration{30 * time.Second}, ACDirMax: Duration{time.Minute}}},
		{"volumes[0].failure", c.Volumes[0].Failure, FailureConfig{Mode: "soft", SoftTimeout: Duration{5 * time.Second}, ServeStale: true}},
		{"volumes[1].squash defaults", c.Volumes[1].Squash, SquashConfig{Root: true, AnonUID: 65534, AnonGID: 65534}},
		{"volumes[1].failure defaults", c.Volumes[1].Failure, FailureConfig{Mode: "hard", SoftTimeout: Duration{30 * time.Second}}},
		{"volumes[1].name", c.Volumes[1].MountPath(), "/scratch"},
		{"volumes[1].ports", [2]int{c.Volumes[1].NFSPort, c.Volumes[1].MountPort}, [2]int{2049, 635}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %+v; want %+v", ch.name, ch.got, ch.want)
		}
	}
	host, export, err := c.Volumes[0].UpstreamHostPath()
	if host != "[fd00::1]" || export != "/srv/data" || err != nil {
		t.Errorf("UpstreamHostPath: got %q, %q, %v; want [fd00::1], /srv/data", host, export, err)
	}
	ps, err := c.Volumes[0].ClientPrefixes()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if err != nil || !reflect.DeepEqual(ps, want) {
		t.Errorf("ClientPrefixes: got %v, %v; want %v", ps, err, want)
	}
}

func TestConfigEmptyFileIsDefaults(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "---\n"} {
		c, err := Load(writeConfig(t, text))
		if err != nil {
			t.Fatalf("Load(%q): %v", text, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Load(%q): got %+v; want the defaults", text, c)
		}
	}
}

// TestConfigErrors gives one bad field per case and wants an error naming
// its path and reason.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string // added before minimal's volumes, or a whole file when it has "volumes:"
		want string
	}{
		{"unknown top-level key", "listn: \":2049\"\n", `listn: unknown key (line 1); valid keys here: listen, mount_listen`},
		{"unknown nested key", "cache:\n  granual: 1MiB\n", `cache.granual: unknown key (line 2); valid keys here: dir, granule`},
		{"unknown key in flow mapping", "portmap: { enabled: true, lisen: \":111\" }\n", `portmap.lisen: unknown key`},
		{"unknown key in a volume", "volumes:\n  - id: 1\n    upstream: \"f:/e\"\n    squash: { rooot: true }\n", `volumes[0].squash.rooot: unknown key (line 4); valid keys here: root, all, anon_uid, anon_gid`},
		{"bad duration", "drain_timeout: 10 seconds\n", `drain_timeout: "10 seconds" is not a duration like "3s"`},
		{"duration without unit", "upstream: { timeout: 30 }\n", `upstream.timeout: "30" is not a duration`},
		{"bad size", "cache: { granule: 256K }\n", `cache.granule: "256K" has an unknown unit "K"`},
		{"size not a size", "cache: { max_size: lots }\n", `cache.max_size: "lots" is not a size like 256KiB`},
		{"not an integer", "cache: { brun: ten }\n", `cache.brun: "ten" is not an integer`},
		{"not a bool", "portmap: { enabled: maybe }\n", `portmap.enabled: "maybe" is not true or false`},
		{"section not a mapping", "cache: 7\n", `cache: "7" is not a mapping`},
		{"clients not a list", "volumes:\n  - id: 1\n    upstream: \"f:/e\"\n    clients: 10.0.0.0/8\n", `volumes[0].clients: "10.0.0.0/8" is not a list`},
		{"listen", "listen: \"2049\"\n", `listen: "2049" is not HOST:PORT`},
		{"listen port", "listen: \":nfs\"\n", `listen: ":nfs" has no port number`},
		{"mount_listen same", "mount_listen: \":2049\"\n", `mount_listen: ":2049" is the same as listen`},
		{"portmap listen", "portmap: { enabled: true, listen: \"\" }\n", `portmap.listen: required when portmap.enabled`},
		{"metrics listen", "metrics: { listen: \"localhost\" }\n", `metrics.listen: "localhost" is not HOST:PORT`},
		{"pprof without metrics", "metrics: { listen: \"\", pprof: true }\n", `metrics.pprof: true needs metrics.listen`},
		{"log level", "log: { level: loud }\n", `log.level: "loud" is not debug, info, warn or error`},
		{"log format", "log: { format: xml }\n", `log.format: "xml" is not text or json`},
		{"drain negative", "drain_timeout: -1s\n", `drain_timeout: -1s is negative`},
		{"cache dir relative", "cache: { dir: cache }\n", `cache.dir: "cache" is not an absolute path`},
		{"granule not power of two", "cache: { granule: 300KiB }\n", `cache.granule: 300KiB is not a power of two from 4KiB to 16MiB`},
		{"granule too big", "cache: { granule: 32MiB }\n", `cache.granule: 32MiB is not a power of two`},
		{"bcull above brun", "cache: { bcull: 12 }\n", `cache.bcull: 12 must be below cache.brun (10)`},
		{"bstop above bcull", "cache: { bstop: 8 }\n", `cache.bstop: 8 must be below cache.bcull (7)`},
		{"brun 100", "cache: { brun: 100 }\n", `cache.brun: 100 must be below 100`},
		{"fstop negative", "cache: { fstop: -1 }\n", `cache.fstop: -1 is negative`},
		{"readahead", "cache: { readahead: 65 }\n", `cache.readahead: 65 is not in 0..64`},
		{"flush_delay", "cache: { flush_delay: -1s }\n", `cache.flush_delay: -1s is negative`},
		{"conns", "upstream: { conns: 0 }\n", `upstream.conns: 0 is not in 1..64`},
		{"timeout zero", "upstream: { timeout: 0s }\n", `upstream.timeout: 0s must be above 0`},
		{"retries", "upstream: { retries: -1 }\n", `upstream.retries: -1 is not in 0..100`},
		{"max_conns", "limits: { max_conns: 0 }\n", `limits.max_conns: 0 is not in 1..1000000`},
		{"requests below conn_requests", "limits: { requests: 10 }\n", `limits.requests: 10 must be at least limits.conn_requests (64)`},
		{"partial_record_bytes below one request", "limits: { partial_record_bytes: 1MiB }\n", `limits.partial_record_bytes: 1048576 is below 2MiB (one largest request)`},
		{"idle_timeout zero", "limits: { idle_timeout: 0s }\n", `limits.idle_timeout: 0s must be above 0`},
		{"no volumes", "volumes: []\n", `volumes: none configured`},
		{"id missing", "volumes:\n  - upstream: \"f:/e\"\n", `volumes[0].id: required`},
		{"id range", "volumes:\n  - id: 70000\n    upstream: \"f:/e\"\n", `volumes[0].id: 70000 is not in 1..65535`},
		{"id reused", "volumes:\n  - { id: 3, upstream: \"f:/a\" }\n  - { id: 3, upstream: \"f:/b\" }\n", `volumes[1].id: 3 is used by volumes[0]`},
		{"name reused", "volumes:\n  - { id: 1, upstream: \"f:/a\" }\n  - { id: 2, upstream: \"g:/b\", name: /a }\n", `volumes[1].name: "/a" is used by volumes[0]`},
		{"derived name reused", "volumes:\n  - { id: 1, upstream: \"f:/a\" }\n  - { id: 2, upstream: \"g:/a\" }\n", `volumes[1].name: "/a" (from upstream) is used by volumes[0]; set a distinct name`},
		{"name relative", "volumes:\n  - { id: 1, upstream: \"f:/a\", name: export }\n", `volumes[0].name: "export" is not a clean absolute path`},
		{"name unclean", "volumes:\n  - { id: 1, upstream: \"f:/a\", name: /export/ }\n", `volumes[0].name: "/export/" is not a clean absolute path`},
		{"upstream missing", "volumes:\n  - { id: 1 }\n", `volumes[0].upstream: required (HOST:/PATH)`},
		{"upstream form", "volumes:\n  - { id: 1, upstream: \"filer/export\" }\n", `volumes[0].upstream: "filer/export" is not HOST:/PATH`},
		{"nfs_port", "volumes:\n  - { id: 1, upstream: \"f:/a\", nfs_port: 65536 }\n", `volumes[0].nfs_port: 65536 is not in 0..65535`},
		{"mount_port", "volumes:\n  - { id: 1, upstream: \"f:/a\", mount_port: -2 }\n", `volumes[0].mount_port: -2 is not in 0..65535`},
		{"client CIDR", "volumes:\n  - { id: 1, upstream: \"f:/a\", clients: [\"10.0.0.1\", \"::1\", \"10.0.0.0/33\"] }\n", `volumes[0].clients[2]: "10.0.0.0/33" is not an address or CIDR`},
		{"client name", "volumes:\n  - { id: 1, upstream: \"f:/a\", clients: [\"host.example\"] }\n", `volumes[0].clients[0]: "host.example" is not an address or CIDR`},
		{"anon_uid", "volumes:\n  - { id: 1, upstream: \"f:/a\", squash: { anon_uid: -1 } }\n", `volumes[0].squash.anon_uid: -1 is not in 0..4294967295`},
		{"anon_gid", "volumes:\n  - { id: 1, upstream: \"f:/a\", squash: { anon_gid: 4294967296 } }\n", `volumes[0].squash.anon_gid: 4294967296 is not in 0..4294967295`},
		{"coherency mode", "volumes:\n  - { id: 1, upstream: \"f:/a\", coherency: { mode: sometimes } }\n", `volumes[0].coherency.mode: "sometimes" is not ttl, cto or static`},
		{"acregmin above max", "volumes:\n  - { id: 1, upstream: \"f:/a\", coherency: { acregmin: 2m } }\n", `volumes[0].coherency.acregmin: 2m0s must not be above volumes[0].coherency.acregmax (1m0s)`},
		{"acdirmin above max", "volumes:\n  - { id: 1, upstream: \"f:/a\", coherency: { acdirmax: 10s } }\n", `volumes[0].coherency.acdirmin: 30s must not be above volumes[0].coherency.acdirmax (10s)`},
		{"acregmax bad duration", "volumes:\n  - { id: 1, upstream: \"f:/a\", coherency: { acregmax: 1h1d } }\n", `volumes[0].coherency.acregmax: "1h1d" is not a duration`},
		{"acdirmin negative", "volumes:\n  - { id: 1, upstream: \"f:/a\", coherency: { acdirmin: -3s } }\n", `volumes[0].coherency.acdirmin: -3s must be above 0`},
		{"failure mode", "volumes:\n  - { id: 1, upstream: \"f:/a\", failure: { mode: squishy } }\n", `volumes[0].failure.mode: "squishy" is not hard or soft`},
		{"acdirmin zero", "volumes:\n  - { id: 1, upstream: \"f:/a\", coherency: { acdirmin: 0s } }\n", `volumes[0].coherency.acdirmin: 0s must be above 0`},
		{"soft timeout", "volumes:\n  - { id: 1, upstream: \"f:/a\", failure: { mode: soft, soft_timeout: 0s } }\n", `volumes[0].failure.soft_timeout: 0s must be above 0 in soft mode`},
		{"second volume path", "volumes:\n  - { id: 1, upstream: \"f:/a\" }\n  - { id: 2, upstream: \"f:/b\", read_only: sure }\n", `volumes[1].read_only: "sure" is not true or false`},
		{"two documents", minimal + "---\nlisten: \":1\"\n", `more than one YAML document`},
		{"syntax", "listen: [\n", `yaml: line`},
		{"volumes a mapping", "volumes: {a: {b: 1}}\n", `volumes: a mapping is not a list`},
		{"squash a list", "volumes: [ {id: 1, upstream: \"f:/a\", squash: [1]} ]\n", `volumes[0].squash: a list is not a mapping`},
		{"top level list", "- a\n- b\n", `(top level): a list is not a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.yaml
			if !strings.Contains(text, "volumes:") && !strings.HasPrefix(text, "- ") {
				text += minimal
			}
			path := writeConfig(t, text)
			c, err := Load(path)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error containing %q", err, tt.want)
			}
			if strings.Contains(tt.want, "unknown key") || strings.Contains(tt.want, "two documents") {
				return
			}
			// Exactly one problem per case: nothing else in the file is wrong.
			if n := strings.Count(err.Error(), "\n"); n != 0 && !strings.Contains(err.Error(), "yaml:") {
				t.Errorf("got %d problems; want 1:\n%v", n+1, err)
			}
		})
	}
}

// TestConfigValidateAll reports every problem at once.
func TestConfigValidateAll(t *testing.T) {
	c := Default()
	c.Listen = ""
	c.Cache.BCull = 50
	c.Volumes = []VolumeConfig{{ID: 1, Upstream: "x"}}
	err := c.Validate()
	for _, want := range []string{"listen: required", "cache.bcull: 50 must be below cache.brun (10)", `volumes[0].upstream: "x" is not HOST:/PATH`, `volumes[0].coherency.mode: "" is not ttl`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: got %v; want it to contain %q", err, want)
		}
	}
}

func TestConfigEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	t.Run("overrides", func(t *testing.T) {
		c, err := Load(writeConfig(t, "listen: \":3049\"\nlog: { level: warn }\n"+minimal))
		if err != nil {
			t.Fatal(err)
		}
		err = c.ApplyEnv(env(map[string]string{
			EnvListen:        "127.0.0.1:4049",
			EnvCacheDir:      "/var/cache/x",
			EnvMetricsListen: ":9999",
			EnvLogLevel:      "debug",
			EnvLogFormat:     "json",
			"UNRELATED":      "x",
		}))
		if err != nil {
			t.Fatalf("ApplyEnv: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		got := [5]string{c.Listen, c.Cache.Dir, c.Metrics.Listen, c.Log.Level, c.Log.Format}
		want := [5]string{"127.0.0.1:4049", "/var/cache/x", ":9999", "debug", "json"}
		if got != want {
			t.Errorf("after ApplyEnv: got %q; want %q", got, want)
		}
	})
	t.Run("unset keeps the file", func(t *testing.T) {
		c, _ := Load(writeConfig(t, "listen: \":3049\"\n"+minimal))
		if err := c.ApplyEnv(env(nil)); err != nil || c.Listen != ":3049" {
			t.Errorf("ApplyEnv(empty): listen %q, err %v; want :3049, nil", c.Listen, err)
		}
	})
	t.Run("upstream creates volume 1", func(t *testing.T) {
		c := Default()
		if err := c.ApplyEnv(env(map[string]string{EnvUpstream: "filer:/data"})); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		want := DefaultVolume()
		want.ID, want.Upstream = 1, "filer:/data"
		if len(c.Volumes) != 1 || !reflect.DeepEqual(c.Volumes[0], want) {
			t.Errorf("volumes: got %+v; want [%+v]", c.Volumes, want)
		}
		if got := c.Volumes[0].MountPath(); got != "/data" {
			t.Errorf("MountPath: got %q; want /data", got)
		}
	})
	t.Run("upstream overrides volume 1", func(t *testing.T) {
		c, err := Load(writeConfig(t, "volumes:\n  - { id: 2, upstream: \"a:/two\" }\n  - { id: 1, upstream: \"a:/one\", read_only: true }\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyEnv(env(map[string]string{EnvUpstream: "b:/other"})); err != nil {
			t.Fatal(err)
		}
		if len(c.Volumes) != 2 || c.Volumes[1].Upstream != "b:/other" || !c.Volumes[1].ReadOnly || c.Volumes[0].Upstream != "a:/two" {
			t.Errorf("volumes: got %+v; want volume 1 re-pointed, its settings and volume 2 kept", c.Volumes)
		}
	})
	t.Run("bad values name the variable", func(t *testing.T) {
		c := Default()
		err := c.ApplyEnv(env(map[string]string{
			EnvListen: "2049", EnvCacheDir: "rel", EnvMetricsListen: "x", EnvLogLevel: "loud", EnvLogFormat: "xml", EnvUpstream: "nocolon",
		}))
		for _, want := range []string{
			`NFSCACHEPROXY_LISTEN: "2049" is not HOST:PORT`,
			`NFSCACHEPROXY_CACHE_DIR: "rel" is not an absolute path`,
			`NFSCACHEPROXY_METRICS_LISTEN: "x" is not HOST:PORT`,
			`NFSCACHEPROXY_LOG_LEVEL: "loud" is not debug, info, warn or error`,
			`NFSCACHEPROXY_LOG_FORMAT: "xml" is not text or json`,
			`NFSCACHEPROXY_UPSTREAM: "nocolon" is not HOST:/PATH`,
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ApplyEnv: got %v; want it to contain %q", err, want)
			}
		}
	})
}

func TestConfigSize(t *testing.T) {
	good := []struct {
		in   string
		want Size
	}{
		{"0", 0}, {"4096", 4096}, {"1B", 1}, {"256KiB", 256 << 10}, {"256 KiB", 256 << 10}, {"10GiB", 10 << 30},
		{"1.5GiB", 3 << 29}, {"2TiB", 2 << 40}, {"1PiB", 1 << 50}, {"1KB", 1000}, {"5GB", 5e9}, {"1tb", 1e12}, {"1mib", 1 << 20},
	}
	for _, tt := range good {
		if got, err := ParseSize(tt.in); got != tt.want || err != nil {
			t.Errorf("ParseSize(%q): got %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "-1", "1K", "1 KiBi", "KiB", "1.2.3MiB", "9999999PiB", "99999999999999999999", "1e3"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): got nil error; want one", in)
		}
	}
	for _, tt := range []struct {
		in   Size
		want string
	}{{0, "0"}, {1000, "1000"}, {256 << 10, "256KiB"}, {10 << 30, "10GiB"}, {3 << 29, "1536MiB"}, {1<<20 + 1, "1048577"}} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String(): got %q; want %q", int64(tt.in), got, tt.want)
		}
		if back, err := ParseSize(tt.in.String()); back != tt.in || err != nil {
			t.Errorf("ParseSize(%q): got %d, %v; want %d", tt.in.String(), back, err, tt.in)
		}
	}
}

// TestConfigRoundTrip marshals a loaded configuration and loads it again.
func TestConfigRoundTrip(t *testing.T) {
	c, err := Load("../deploy/nfscacheproxy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("parse marshalled config: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(c, back) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v\n%s", back, c, out)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigAdminValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"relative socket", func(c *Config) { c.Admin.Socket = "admin.sock" }, `admin.socket: "admin.sock" is not an absolute path`},
		{"listen without token", func(c *Config) { c.Admin.Listen = "127.0.0.1:9103" }, "admin.token_file: required when admin.listen is set"},
		{"listen on metrics", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = ":9102", "/t" }, "is the metrics listener"},
		{"bad listen", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "9103", "/t" }, `admin.listen: "9103" is not HOST:PORT`},
		{"relative token file", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "127.0.0.1:9103", "t" }, `admin.token_file: "t" is not an absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			v := DefaultVolume()
			v.ID, v.Upstream = 1, "filer:/data"
			c.Volumes = []VolumeConfig{v}
			tc.set(c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: got %v; want %q", err, tc.want)
			}
		})
	}
	c := Default()
	for _, tc := range []struct {
		socket, cacheDir, want string
	}{{"", "", ""}, {"", "/var/cache/x", "/var/cache/x/admin.sock"}, {"none", "/var/cache/x", ""}, {"/run/a.sock", "/var/cache/x", "/run/a.sock"}} {
		c.Admin.Socket, c.Cache.Dir = tc.socket, tc.cacheDir
		if got := c.AdminSocket(); got != tc.want {
			t.Errorf("AdminSocket() with socket %q, cache.dir %q: got %q; want %q", tc.socket, tc.cacheDir, got, tc.want)
		}
	}
}

// TestRestartNeeded: a reload names every change it cannot apply, and
// none of those it can.
func TestRestartNeeded(t *testing.T) {
	base := func() *Config {
		c := Default()
		v := DefaultVolume()
		v.ID, v.Upstream = 1, "filer:/data"
		w := DefaultVolume()
		w.ID, w.Upstream = 2, "filer:/other"
		c.Volumes = []VolumeConfig{v, w}
		return c
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"reloadable only", func(c *Config) {
			c.Log.Level = "debug"
			c.Volumes[0].Clients, c.Volumes[0].ReadOnly, c.Volumes[0].SecurePorts = []string{"10.0.0.0/8"}, true, true
			c.Volumes[1].Squash.All = true
		}, nil},
		{"listen", func(c *Config) { c.Listen = ":3049" }, []string{"listen addresses, portmap, metrics, admin, log format"}},
		{"admin socket", func(c *Config) { c.Admin.Socket = "/run/x.sock" }, []string{"listen addresses, portmap, metrics, admin, log format"}},
		{"cache", func(c *Config) { c.Cache.MaxSize = 1 << 30 }, []string{"cache"}},
		{"limits", func(c *Config) { c.Limits.Requests = 10 }, []string{"limits"}},
		{"upstream", func(c *Config) { c.Upstream.Conns = 8 }, []string{"upstream"}},
		{"volume coherency", func(c *Config) { c.Volumes[1].Coherency.Mode = "cto" }, []string{"volume 2 upstream, name, ports, coherency or failure"}},
		{"volume removed and added", func(c *Config) { c.Volumes[0].ID = 3 }, []string{"volume 1 removed", "volume 3 added"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := base()
			tc.change(next)
			if got := RestartNeeded(base(), next); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RestartNeeded: got %q; want %q", got, tc.want)
			}
		})
	}
}
