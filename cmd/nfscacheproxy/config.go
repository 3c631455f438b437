package main

// The configuration file of `serve --config PATH` (YAML).
//
// Precedence, lowest first: built-in defaults (DefaultConfig) < the file
// (LoadConfig) < environment variables (ApplyEnv) < command-line flags
// (applied by serve.go). Validate runs last, on the merged result, and
// reports every problem at once, each naming its field path
// ("volumes[1].coherency.acregmax: …") and the reason.
//
// deploy/nfscacheproxy.example.yaml documents every field with its default.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Environment variables read by ApplyEnv (and envConfig by main). An empty
// value counts as unset.
const (
	envConfig        = "NFSCACHEPROXY_CONFIG"         // path of the configuration file, when --config is not given
	envListen        = "NFSCACHEPROXY_LISTEN"         // listen
	envCacheDir      = "NFSCACHEPROXY_CACHE_DIR"      // cache.dir
	envMetricsListen = "NFSCACHEPROXY_METRICS_LISTEN" // metrics.listen
	envLogLevel      = "NFSCACHEPROXY_LOG_LEVEL"      // log.level
	envLogFormat     = "NFSCACHEPROXY_LOG_FORMAT"     // log.format
	envUpstream      = "NFSCACHEPROXY_UPSTREAM"       // upstream of volume 1 (created when missing)
)

// Config is the whole configuration. Field comments give each YAML key,
// its default and its rules.
type Config struct {
	// listen: address NFS and MOUNT are served on, both programs on one
	// port, as HOST:PORT (HOST may be empty for every address). Default ":2049".
	Listen string `yaml:"listen"`
	// mount_listen: optional second address, HOST:PORT, on which MOUNT (and
	// NFS) are served too, for clients that want a separate mountd port.
	// Default "" (none). Must differ from listen.
	MountListen string `yaml:"mount_listen"`
	// portmap: the built-in portmapper (package portmap).
	Portmap PortmapConfig `yaml:"portmap"`
	// metrics: Prometheus, health and pprof endpoints (package metrics).
	Metrics MetricsConfig `yaml:"metrics"`
	// log: process logging.
	Log LogConfig `yaml:"log"`
	// drain_timeout: on SIGTERM, how long requests in flight may take to
	// finish before connections are closed. Default 10s; 0 closes at once.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// limits: bounds on clients, so a misbehaving one cannot starve others.
	Limits LimitsConfig `yaml:"limits"`
	// cache: the on-disk data cache (package cache).
	Cache CacheConfig `yaml:"cache"`
	// upstream: settings of the upstream client, used for every volume.
	Upstream UpstreamConfig `yaml:"upstream"`
	// volumes: the exports served; at least one.
	Volumes []VolumeConfig `yaml:"volumes"`
}

// PortmapConfig is the `portmap:` section.
type PortmapConfig struct {
	// enabled: serve a portmapper (rpcbind v2-v4, TCP and UDP) so that
	// `mount PROXY:/export` and `showmount -e PROXY` need no port options.
	// Do not enable it where a system rpcbind already owns port 111.
	// Default false.
	Enabled bool `yaml:"enabled"`
	// listen: HOST:PORT for the portmapper, TCP and UDP. Default ":111"
	// (needs CAP_NET_BIND_SERVICE).
	Listen string `yaml:"listen"`
}

// MetricsConfig is the `metrics:` section.
type MetricsConfig struct {
	// listen: HOST:PORT serving /metrics, /healthz and /readyz; "" turns
	// the endpoint off. Default ":9102".
	Listen string `yaml:"listen"`
	// pprof: also serve /debug/pprof/ there. Default false.
	Pprof bool `yaml:"pprof"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	// level: debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// format: text or json. Default text.
	Format string `yaml:"format"`
}

// CacheConfig is the `cache:` section.
type CacheConfig struct {
	// dir: absolute path of the cache root; "" runs without a data cache
	// (every READ goes upstream). Default "".
	Dir string `yaml:"dir"`
	// granule: unit of fetching, storing and checksumming; a power of two
	// from 4KiB to 16MiB. Changing it drops cached objects as they are
	// next used. Default 256KiB.
	Granule Size `yaml:"granule"`
	// max_size: cap on the cached data bytes; 0 means only the free-space
	// limits apply. Default 0.
	MaxSize Size `yaml:"max_size"`
	// brun, bcull, bstop: free-space percentages of the cache filesystem,
	// as in cachefilesd: culling starts when free space falls below bcull
	// and stops above brun; below bstop nothing new is cached. Rule:
	// 0 <= bstop < bcull < brun < 100. Defaults 10, 7, 3.
	BRun  int `yaml:"brun"`
	BCull int `yaml:"bcull"`
	BStop int `yaml:"bstop"`
	// frun, fcull, fstop: the same for free files (inodes). Defaults 10, 7, 3.
	FRun  int `yaml:"frun"`
	FCull int `yaml:"fcull"`
	FStop int `yaml:"fstop"`
	// readahead: granules fetched ahead of a sequential reader, 0..64;
	// 0 turns readahead off. Default 16.
	Readahead int `yaml:"readahead"`
}

// LimitsConfig is the `limits:` section.
type LimitsConfig struct {
	// max_conns: open client connections, 1..1000000; more are accepted
	// and closed at once. Default 4096.
	MaxConns int `yaml:"max_conns"`
	// max_conns_per_client: open connections from one client address,
	// 1..max_conns; more are closed at once, so one host cannot lock the
	// others out. Default 256.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// conn_requests: requests in flight per connection, 1..65536; a
	// client at the bound is not read from. Default 64.
	ConnRequests int `yaml:"conn_requests"`
	// requests: requests in flight across the proxy, >= conn_requests.
	// Default 1024.
	Requests int `yaml:"requests"`
	// idle_timeout: a connection that sends no request, or does not finish
	// one it started, for this long is closed; > 0. Default 15m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// record_timeout: a request whose first bytes arrived but whose last
	// did not within this long closes the connection (a stalled half-sent
	// request holds memory); > 0. Default 60s.
	RecordTimeout Duration `yaml:"record_timeout"`
	// partial_record_bytes: bytes all connections together may hold in
	// requests that have begun to arrive and are not complete; beyond it
	// the connections holding the most are closed first. At least 2MiB
	// (one largest request). Default 64MiB.
	PartialRecordBytes Size `yaml:"partial_record_bytes"`
	// write_timeout: a reply that cannot be written for this long (the
	// client does not read) closes the connection; > 0. Default 60s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// request_timeout: how long one request may wait on the upstream
	// (hard mode retries until then, then answers JUKEBOX); > 0. Default 5m.
	RequestTimeout Duration `yaml:"request_timeout"`
}

func (l *LimitsConfig) validate(p *problems) {
	switch {
	case l.MaxConns < 1 || l.MaxConns > 1000000:
		p.add("limits.max_conns", "%d is not in 1..1000000", l.MaxConns)
	case l.MaxConnsPerClient < 1 || l.MaxConnsPerClient > l.MaxConns:
		p.add("limits.max_conns_per_client", "%d is not in 1..limits.max_conns (%d)", l.MaxConnsPerClient, l.MaxConns)
	case l.ConnRequests < 1 || l.ConnRequests > 65536:
		p.add("limits.conn_requests", "%d is not in 1..65536", l.ConnRequests)
	case l.Requests < l.ConnRequests:
		p.add("limits.requests", "%d must be at least limits.conn_requests (%d)", l.Requests, l.ConnRequests)
	case l.PartialRecordBytes < 2<<20:
		p.add("limits.partial_record_bytes", "%d is below 2MiB (one largest request)", l.PartialRecordBytes)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"limits.idle_timeout", l.IdleTimeout}, {"limits.record_timeout", l.RecordTimeout}, {"limits.write_timeout", l.WriteTimeout}, {"limits.request_timeout", l.RequestTimeout}} {
		if d.v.Duration <= 0 {
			p.add(d.name, "%v must be above 0", d.v)
		}
	}
}

// UpstreamConfig is the `upstream:` section.
type UpstreamConfig struct {
	// conns: TCP connections to each upstream NFS server, 1..64. Default 4.
	Conns int `yaml:"conns"`
	// timeout: per attempt of an upstream call, > 0. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// retries: further attempts after a retryable failure, 0..100; 0 means
	// none. Default 2.
	Retries int `yaml:"retries"`
	// unprivileged_port: do not bind a source port below 1024 toward the
	// upstream. Leave false for servers that require "secure" ports (the
	// Linux default); binding one needs CAP_NET_BIND_SERVICE. Default false.
	UnprivilegedPort bool `yaml:"unprivileged_port"`
}

// VolumeConfig is one entry of `volumes:`.
type VolumeConfig struct {
	// id: 1..65535, required and unique. It is part of every file handle
	// the proxy gives out: keep it for the life of the volume and never
	// give it to another export, or clients get wrong files or ESTALE.
	ID int `yaml:"id"`
	// name: the path clients mount, a clean absolute path, unique among
	// volumes. Default: the upstream export path.
	Name string `yaml:"name"`
	// upstream: the upstream export as HOST:/PATH (HOST a name, an IPv4
	// address or a bracketed IPv6 address). Required.
	Upstream string `yaml:"upstream"`
	// nfs_port: the upstream's NFS port, 0..65535; 0 asks its portmapper.
	// Default 0.
	NFSPort int `yaml:"nfs_port"`
	// mount_port: the upstream's MOUNT port, 0..65535; 0 asks its
	// portmapper. Default 0.
	MountPort int `yaml:"mount_port"`
	// read_only: refuse every change with NFS3ERR_ROFS. Default false.
	ReadOnly bool `yaml:"read_only"`
	// clients: client addresses or networks (CIDR) allowed to mount and
	// use the volume, IPv4 or IPv6; empty allows everyone. Default [].
	Clients []string `yaml:"clients,omitempty"`
	// squash: credential mapping, as in exports(5).
	Squash SquashConfig `yaml:"squash"`
	// secure_ports: refuse clients whose source port is 1024 or above
	// (exports(5) "secure"). Default false.
	SecurePorts bool `yaml:"secure_ports"`
	// coherency: how cached attributes and data are revalidated.
	Coherency CoherencyConfig `yaml:"coherency"`
	// failure: what clients see while the upstream is unreachable.
	Failure FailureConfig `yaml:"failure"`
	// cross_mounts: serve objects of filesystems mounted below the export
	// (upstream exports with crossmnt or nohide). When false, every handle
	// a client presents must name an object on the export root's
	// filesystem (fsid), so a handle forged for another export of the same
	// server is NFS3ERR_STALE. Default false.
	CrossMounts bool `yaml:"cross_mounts"`
}

// SquashConfig is a volume's `squash:` section.
type SquashConfig struct {
	// root: map uid 0 (and gid 0) to anon_uid/anon_gid. Default true.
	Root bool `yaml:"root"`
	// all: map every uid and gid to anon_uid/anon_gid. Default false.
	All bool `yaml:"all"`
	// anon_uid, anon_gid: the ids squashed callers get, 0..4294967295.
	// Defaults 65534, 65534.
	AnonUID int64 `yaml:"anon_uid"`
	AnonGID int64 `yaml:"anon_gid"`
}

// CoherencyConfig is a volume's `coherency:` section.
type CoherencyConfig struct {
	// mode: ttl (cached attributes trusted for an adaptive time between
	// the min and max below, like the Linux client's ac* options), cto
	// (every client GETATTR is revalidated upstream: close-to-open holds
	// end to end) or static (never revalidated: read-only data sets).
	// Default ttl.
	Mode string `yaml:"mode"`
	// acregmin <= acregmax: attribute TTL bounds for files, each > 0
	// (for no attribute caching use mode cto). Ignored by static.
	// Defaults 3s, 60s.
	ACRegMin Duration `yaml:"acregmin"`
	ACRegMax Duration `yaml:"acregmax"`
	// acdirmin <= acdirmax: attribute TTL bounds for directories, each > 0.
	// Defaults 30s, 60s.
	ACDirMin Duration `yaml:"acdirmin"`
	ACDirMax Duration `yaml:"acdirmax"`
}

// FailureConfig is a volume's `failure:` section.
type FailureConfig struct {
	// mode: hard (calls to an unreachable upstream are retried until the
	// request's deadline, then answered NFS3ERR_JUKEBOX so the client
	// waits and tries again, as on a hard mount) or soft (after
	// soft_timeout the client gets NFS3ERR_IO, as on a soft mount).
	// Default hard.
	Mode string `yaml:"mode"`
	// soft_timeout: in soft mode, how long an upstream call may take, > 0.
	// Default 30s.
	SoftTimeout Duration `yaml:"soft_timeout"`
	// serve_stale: while the upstream cannot be reached, answer GETATTR,
	// LOOKUP, ACCESS and READ of objects the caches hold, however old.
	// Changes still fail. Default false.
	ServeStale bool `yaml:"serve_stale"`
}

// DefaultConfig returns the built-in defaults, with no volumes.
func DefaultConfig() *Config {
	return &Config{
		Listen:       ":2049",
		Portmap:      PortmapConfig{Listen: ":111"},
		Metrics:      MetricsConfig{Listen: ":9102"},
		Log:          LogConfig{Level: "info", Format: "text"},
		DrainTimeout: Duration{10 * time.Second},
		Limits: LimitsConfig{MaxConns: 4096, MaxConnsPerClient: 256, ConnRequests: 64, Requests: 1024, PartialRecordBytes: 64 << 20,
			IdleTimeout: Duration{15 * time.Minute}, RecordTimeout: Duration{time.Minute}, WriteTimeout: Duration{time.Minute}, RequestTimeout: Duration{5 * time.Minute}},
		Cache: CacheConfig{
			Granule: 256 << 10,
			BRun:    10, BCull: 7, BStop: 3,
			FRun: 10, FCull: 7, FStop: 3,
			Readahead: 16,
		},
		Upstream: UpstreamConfig{Conns: 4, Timeout: Duration{30 * time.Second}, Retries: 2},
	}
}

// DefaultVolume returns a volume with every default set and no id,
// upstream or name.
func DefaultVolume() VolumeConfig {
	return VolumeConfig{
		Squash: SquashConfig{Root: true, AnonUID: 65534, AnonGID: 65534},
		Coherency: CoherencyConfig{
			Mode:     "ttl",
			ACRegMin: Duration{3 * time.Second}, ACRegMax: Duration{60 * time.Second},
			ACDirMin: Duration{30 * time.Second}, ACDirMax: Duration{60 * time.Second},
		},
		Failure: FailureConfig{Mode: "hard", SoftTimeout: Duration{30 * time.Second}},
	}
}

// LoadConfig reads the YAML file at path over DefaultConfig. Unknown keys
// and values of the wrong type or form are errors naming their field path.
// It does not Validate: apply env and flags first, then Validate.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes data over DefaultConfig; see LoadConfig.
func parseConfig(data []byte) (*Config, error) {
	c := DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err // a syntax error: "yaml: line N: …"
	}
	if root.Kind == 0 { // empty file
		return c, nil
	}
	// Pass 1: strict decode (unknown keys, types, forms), errors mapped to
	// field paths. Volumes come out zeroed: yaml makes new slice elements.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, pathErrors(err, &root)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; want one")
	}
	// Pass 2: decode each volume again over DefaultVolume, so keys a
	// volume leaves out keep their defaults. Pass 1 already checked them.
	if vs := volumesNode(&root); vs != nil {
		c.Volumes = make([]VolumeConfig, len(vs.Content))
		for i, n := range vs.Content {
			c.Volumes[i] = DefaultVolume()
			if err := n.Decode(&c.Volumes[i]); err != nil {
				return nil, pathErrors(err, &root)
			}
		}
	}
	return c, nil
}

// volumesNode returns the sequence under the top-level key volumes, or nil.
func volumesNode(root *yaml.Node) *yaml.Node {
	doc := yamlDeref(root)
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = yamlDeref(doc.Content[0])
	}
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "volumes" {
			if v := yamlDeref(doc.Content[i+1]); v.Kind == yaml.SequenceNode {
				return v
			}
		}
	}
	return nil
}

func yamlDeref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// ApplyEnv overrides fields from the environment (see the env* constants).
// NFSCACHEPROXY_UPSTREAM sets the upstream of volume 1, creating it with
// defaults when the configuration has no volume 1; other volumes are kept.
// Values are checked here, with errors naming the variable.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	var errs []error
	bad := func(name, v, reason string) { errs = append(errs, fmt.Errorf("%s: %q %s", name, v, reason)) }
	if v := getenv(envListen); v != "" {
		if r := checkHostPort(v); r != "" {
			bad(envListen, v, r)
		}
		c.Listen = v
	}
	if v := getenv(envCacheDir); v != "" {
		if !path.IsAbs(v) {
			bad(envCacheDir, v, "is not an absolute path")
		}
		c.Cache.Dir = v
	}
	if v := getenv(envMetricsListen); v != "" {
		if r := checkHostPort(v); r != "" {
			bad(envMetricsListen, v, r)
		}
		c.Metrics.Listen = v
	}
	if v := getenv(envLogLevel); v != "" {
		if !slices.Contains(logLevels, v) {
			bad(envLogLevel, v, "is not debug, info, warn or error")
		}
		c.Log.Level = v
	}
	if v := getenv(envLogFormat); v != "" {
		if v != "text" && v != "json" {
			bad(envLogFormat, v, "is not text or json")
		}
		c.Log.Format = v
	}
	if v := getenv(envUpstream); v != "" {
		if r := checkUpstream(v); r != "" {
			bad(envUpstream, v, r)
		}
		i := slices.IndexFunc(c.Volumes, func(vol VolumeConfig) bool { return vol.ID == 1 })
		if i < 0 {
			vol := DefaultVolume()
			vol.ID = 1
			c.Volumes = append(c.Volumes, vol)
			i = len(c.Volumes) - 1
		}
		c.Volumes[i].Upstream = v
	}
	return errors.Join(errs...)
}

var logLevels = []string{"debug", "info", "warn", "error"}

// Validate checks the merged configuration and returns every problem,
// joined, each as "field.path: value reason".
func (c *Config) Validate() error {
	var p problems
	if c.Listen == "" {
		p.add("listen", "required (HOST:PORT, e.g. \":2049\")")
	} else if r := checkHostPort(c.Listen); r != "" {
		p.add("listen", "%q %s", c.Listen, r)
	}
	if c.MountListen != "" {
		if r := checkHostPort(c.MountListen); r != "" {
			p.add("mount_listen", "%q %s", c.MountListen, r)
		} else if c.MountListen == c.Listen {
			p.add("mount_listen", "%q is the same as listen; leave it empty to serve MOUNT on listen", c.MountListen)
		}
	}
	if c.Portmap.Enabled || c.Portmap.Listen != "" {
		if c.Portmap.Listen == "" {
			p.add("portmap.listen", "required when portmap.enabled (e.g. \":111\")")
		} else if r := checkHostPort(c.Portmap.Listen); r != "" {
			p.add("portmap.listen", "%q %s", c.Portmap.Listen, r)
		}
	}
	if c.Metrics.Listen != "" {
		if r := checkHostPort(c.Metrics.Listen); r != "" {
			p.add("metrics.listen", "%q %s", c.Metrics.Listen, r)
		}
	} else if c.Metrics.Pprof {
		p.add("metrics.pprof", "true needs metrics.listen")
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		p.add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.DrainTimeout.Duration < 0 {
		p.add("drain_timeout", "%v is negative", c.DrainTimeout)
	}
	c.Limits.validate(&p)
	c.Cache.validate(&p)
	c.Upstream.validate(&p)
	if len(c.Volumes) == 0 {
		p.add("volumes", "none configured; add one here, or set %s or --upstream", envUpstream)
	}
	ids := map[int]int{}
	names := map[string]int{}
	for i := range c.Volumes {
		v := &c.Volumes[i]
		at := fmt.Sprintf("volumes[%d]", i)
		v.validate(at, &p)
		if v.ID >= 1 && v.ID <= 65535 {
			if j, dup := ids[v.ID]; dup {
				p.add(at+".id", "%d is used by volumes[%d]", v.ID, j)
			} else {
				ids[v.ID] = i
			}
		}
		if n := v.MountPath(); n != "" {
			if j, dup := names[n]; dup {
				if v.Name == "" {
					p.add(at+".name", "%q (from upstream) is used by volumes[%d]; set a distinct name", n, j)
				} else {
					p.add(at+".name", "%q is used by volumes[%d]", n, j)
				}
			} else {
				names[n] = i
			}
		}
	}
	return p.err()
}

func (cc *CacheConfig) validate(p *problems) {
	if cc.Dir != "" && !path.IsAbs(cc.Dir) {
		p.add("cache.dir", "%q is not an absolute path (\"\" runs without a data cache)", cc.Dir)
	}
	if g := int64(cc.Granule); g < 4<<10 || g > 16<<20 || bits.OnesCount64(uint64(g)) != 1 {
		p.add("cache.granule", "%v is not a power of two from 4KiB to 16MiB", cc.Granule)
	}
	if cc.MaxSize < 0 {
		p.add("cache.max_size", "%v is negative", cc.MaxSize)
	}
	checkCullLimits(p, "cache.b", cc.BRun, cc.BCull, cc.BStop)
	checkCullLimits(p, "cache.f", cc.FRun, cc.FCull, cc.FStop)
	if cc.Readahead < 0 || cc.Readahead > 64 {
		p.add("cache.readahead", "%d is not in 0..64 (0 turns readahead off)", cc.Readahead)
	}
}

// checkCullLimits checks 0 <= stop < cull < run < 100 for the fields prefix+run,
// prefix+cull and prefix+stop.
func checkCullLimits(p *problems, prefix string, run, cull, stop int) {
	switch {
	case run >= 100:
		p.add(prefix+"run", "%d must be below 100", run)
	case cull >= run:
		p.add(prefix+"cull", "%d must be below %srun (%d)", cull, prefix, run)
	case stop < 0:
		p.add(prefix+"stop", "%d is negative", stop)
	case stop >= cull:
		p.add(prefix+"stop", "%d must be below %scull (%d)", stop, prefix, cull)
	}
}

func (u *UpstreamConfig) validate(p *problems) {
	if u.Conns < 1 || u.Conns > 64 {
		p.add("upstream.conns", "%d is not in 1..64", u.Conns)
	}
	if u.Timeout.Duration <= 0 {
		p.add("upstream.timeout", "%v must be above 0", u.Timeout)
	}
	if u.Retries < 0 || u.Retries > 100 {
		p.add("upstream.retries", "%d is not in 0..100", u.Retries)
	}
}

func (v *VolumeConfig) validate(at string, p *problems) {
	if v.ID == 0 {
		p.add(at+".id", "required: a number in 1..65535, unique and never reused")
	} else if v.ID < 1 || v.ID > 65535 {
		p.add(at+".id", "%d is not in 1..65535", v.ID)
	}
	if v.Upstream == "" {
		p.add(at+".upstream", "required (HOST:/PATH)")
	} else if r := checkUpstream(v.Upstream); r != "" {
		p.add(at+".upstream", "%q %s", v.Upstream, r)
	}
	if v.Name != "" && (!path.IsAbs(v.Name) || path.Clean(v.Name) != v.Name) {
		p.add(at+".name", "%q is not a clean absolute path like /export", v.Name)
	}
	if v.NFSPort < 0 || v.NFSPort > 65535 {
		p.add(at+".nfs_port", "%d is not in 0..65535", v.NFSPort)
	}
	if v.MountPort < 0 || v.MountPort > 65535 {
		p.add(at+".mount_port", "%d is not in 0..65535", v.MountPort)
	}
	for i, cl := range v.Clients {
		if _, err := parseClient(cl); err != nil {
			p.add(fmt.Sprintf("%s.clients[%d]", at, i), "%q is not an address or CIDR", cl)
		}
	}
	if v.Squash.AnonUID < 0 || v.Squash.AnonUID > math.MaxUint32 {
		p.add(at+".squash.anon_uid", "%d is not in 0..4294967295", v.Squash.AnonUID)
	}
	if v.Squash.AnonGID < 0 || v.Squash.AnonGID > math.MaxUint32 {
		p.add(at+".squash.anon_gid", "%d is not in 0..4294967295", v.Squash.AnonGID)
	}
	co := &v.Coherency
	switch co.Mode {
	case "ttl", "cto", "static":
	default:
		p.add(at+".coherency.mode", "%q is not ttl, cto or static", co.Mode)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"acregmin", co.ACRegMin}, {"acregmax", co.ACRegMax}, {"acdirmin", co.ACDirMin}, {"acdirmax", co.ACDirMax}} {
		if d.v.Duration <= 0 {
			p.add(at+".coherency."+d.name, "%v must be above 0 (mode cto revalidates every GETATTR)", d.v)
		}
	}
	if co.ACRegMin.Duration > co.ACRegMax.Duration {
		p.add(at+".coherency.acregmin", "%v must not be above %s.coherency.acregmax (%v)", co.ACRegMin, at, co.ACRegMax)
	}
	if co.ACDirMin.Duration > co.ACDirMax.Duration {
		p.add(at+".coherency.acdirmin", "%v must not be above %s.coherency.acdirmax (%v)", co.ACDirMin, at, co.ACDirMax)
	}
	switch v.Failure.Mode {
	case "hard":
	case "soft":
		if v.Failure.SoftTimeout.Duration <= 0 {
			p.add(at+".failure.soft_timeout", "%v must be above 0 in soft mode", v.Failure.SoftTimeout)
		}
	default:
		p.add(at+".failure.mode", "%q is not hard or soft", v.Failure.Mode)
	}
	if v.Failure.SoftTimeout.Duration < 0 {
		p.add(at+".failure.soft_timeout", "%v is negative", v.Failure.SoftTimeout)
	}
}

// MountPath returns the path clients mount: name, or else the upstream's
// export path ("" when upstream is not HOST:/PATH).
func (v *VolumeConfig) MountPath() string {
	if v.Name != "" {
		return v.Name
	}
	_, export, err := parseUpstream(v.Upstream)
	if err != nil {
		return ""
	}
	return export
}

// UpstreamHostPath splits upstream into host and export path; call it on a
// validated configuration.
func (v *VolumeConfig) UpstreamHostPath() (host, export string, err error) {
	return parseUpstream(v.Upstream)
}

// ClientPrefixes returns clients as prefixes (an address is a /32 or
// /128); nil means everyone. Call it on a validated configuration.
func (v *VolumeConfig) ClientPrefixes() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for i, cl := range v.Clients {
		pr, err := parseClient(cl)
		if err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		ps = append(ps, pr)
	}
	return ps, nil
}

func parseClient(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkHostPort returns why s is not HOST:PORT with a numeric port, or "".
func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "is not HOST:PORT (e.g. \":2049\" or \"10.0.0.1:2049\")"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "has no port number in 0..65535"
	}
	return ""
}

// checkUpstream returns why s is not HOST:/PATH, or "".
func checkUpstream(s string) string {
	host, export, err := parseUpstream(s)
	switch {
	case err != nil:
		return "is not HOST:/PATH"
	case strings.ContainsAny(host, " /"):
		return "has an invalid host"
	case path.Clean(export) != export:
		return "has an export path that is not clean (like /export)"
	}
	return ""
}

// problems collects validation errors, each naming a field path.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (p problems) err() error { return errors.Join(p...) }

// Duration is a time.Duration written in YAML as a Go duration string
// ("3s", "1m30s", "0").
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fieldError(n, "%s is not a duration like \"3s\" or \"1m30s\"", quoteNode(n))
	}
	d.Duration = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Size is a byte count written in YAML as a number of bytes or with a
// unit: KiB, MiB, GiB, TiB, PiB (powers of 1024) or KB, MB, GB, TB, PB
// (powers of 1000), e.g. "256KiB", "10GiB", "1.5TB", 4096.
type Size int64

// ParseSize parses a Size; see Size.
func ParseSize(s string) (Size, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size like 256KiB, 10GiB or a byte count", s)
	}
	mult, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KiB, MiB, GiB, TiB, PiB, KB, MB, GB, TB or PB)", s, m[2])
	}
	if !strings.Contains(m[1], ".") {
		n, err := strconv.ParseUint(m[1], 10, 64)
		hi, lo := bits.Mul64(n, mult)
		if err != nil || hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return Size(lo), nil
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if v := f * float64(mult); err != nil || v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(f * float64(mult)), nil
}

var sizeRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)

var sizeUnits = map[string]uint64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
}

// String writes s with the largest binary unit that divides it exactly.
func (s Size) String() string {
	if s <= 0 {
		return strconv.FormatInt(int64(s), 10)
	}
	for _, u := range []struct {
		name string
		n    int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fieldError(n, "%s is not a size like 256KiB, 10GiB or a byte count", quoteNode(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fieldError(n, "%v", err)
	}
	*s = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// fieldError reports a bad value at n in the form pathErrors maps to a
// field path. A *yaml.TypeError lets the decoder go on and report more.
func fieldError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))}}
}

func quoteNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// Decoder messages pathErrors rewrites.
var (
	reOurs    = regexp.MustCompile("^line ([0-9]+): column ([0-9]+): (.*)$")
	reUnknown = regexp.MustCompile("^line ([0-9]+): field (.*) not found in type (.*)$")
	reType    = regexp.MustCompile("^line ([0-9]+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.*)$")
)

// pathErrors rewrites the decoder's "line N: …" messages as
// "field.path: …" using the node tree; a message it cannot place is kept.
func pathErrors(err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var idx []posEntry
	indexPaths(root, "", &idx)
	var errs []error
	for _, msg := range te.Errors {
		errs = append(errs, errors.New(placeError(msg, idx)))
	}
	return errors.Join(errs...)
}

func placeError(msg string, idx []posEntry) string {
	if m := reOurs.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		for _, e := range idx {
			if !e.key && e.line == line && e.col == col {
				return e.path + ": " + m[3]
			}
		}
		return fmt.Sprintf("line %d: %s", line, m[3])
	}
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, e := range idx {
			if e.key && e.line == line && e.value == m[2] {
				return fmt.Sprintf("%s: unknown key (line %d); valid keys here: %s", e.path, line, strings.Join(knownKeys(e.path), ", "))
			}
		}
		return fmt.Sprintf("line %d: unknown key %q", line, m[2])
	}
	if m := reType.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		val := strings.TrimSuffix(m[3], "...")
		what := typeWords(m[4])
		// Several values may sit on the line: prefer the one whose field
		// has the type the decoder names, else the first that fits.
		var hit *posEntry
		for i := range idx {
			e := &idx[i]
			if e.key || e.line != line || !strings.HasPrefix(e.value, val) {
				continue
			}
			if t := typeAt(e.path); t != nil && t.String() == m[4] {
				hit = e
				break
			}
			if hit == nil {
				hit = e
			}
		}
		if hit == nil {
			return fmt.Sprintf("line %d: %s is not %s", line, strings.TrimSpace("`"+m[3]+"`"), what)
		}
		shown := strconv.Quote(hit.value)
		switch m[2] {
		case "!!map":
			shown = "a mapping"
		case "!!seq":
			shown = "a list"
		}
		return fmt.Sprintf("%s: %s is not %s", hit.path, shown, what)
	}
	return msg
}

// typeWords names a Go type the way a configuration's reader thinks of it.
func typeWords(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "an integer"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a mapping"
}

type posEntry struct {
	line, col int
	key       bool
	value     string
	path      string
}

// indexPaths records the position and field path of every key and value.
func indexPaths(n *yaml.Node, at string, out *[]posEntry) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			*out = append(*out, posEntry{line: c.Line, col: c.Column, value: c.Value, path: "(top level)"})
			indexPaths(c, at, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if at != "" {
				p = at + "." + k.Value
			}
			*out = append(*out, posEntry{line: k.Line, col: k.Column, key: true, value: k.Value, path: p})
			*out = append(*out, posEntry{line: v.Line, col: v.Column, value: v.Value, path: p})
			indexPaths(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", at, i)
			*out = append(*out, posEntry{line: c.Line, col: c.Column, value: c.Value, path: p})
			indexPaths(c, p, out)
		}
	}
}

// typeAt returns the Go type of the field at a path like
// "volumes[0].squash", or nil.
func typeAt(p string) reflect.Type {
	t := reflect.TypeOf(Config{})
	if p == "(top level)" {
		return t
	}
	for _, seg := range strings.Split(p, ".") {
		name, _, _ := strings.Cut(seg, "[")
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil
		}
		t = f.Type
		for range strings.Count(seg, "[") {
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		}
	}
	return t
}

// knownKeys lists the YAML keys allowed beside the key at path.
func knownKeys(keyPath string) []string {
	var t reflect.Type
	if i := strings.LastIndexByte(keyPath, '.'); i >= 0 {
		t = typeAt(keyPath[:i])
	} else {
		t = reflect.TypeOf(Config{})
	}
	for t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer) {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// serveFlagNames returns the names of the flags `serve` accepts, for
// deploy_test.go to check the deployment files against. It reads them from
// serveFlags.register, so it follows serve.go.
func serveFlagNames() []string {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	var names []string
	fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	return names
}
