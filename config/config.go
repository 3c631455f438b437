package config

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"
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
	// nlm: file locking through the proxy (see NLMConfig).
	NLM NLMConfig `yaml:"nlm"`
	// metrics: Prometheus, health and pprof endpoints (package metrics).
	Metrics MetricsConfig `yaml:"metrics"`
	// admin: where state-changing requests (POST /admin/invalidate) are
	// accepted; never on the metrics listener.
	Admin AdminConfig `yaml:"admin"`
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

// AdminConfig is the `admin:` section: the listeners of the admin API
// (POST /admin/invalidate), kept off the read-only metrics listener.
type AdminConfig struct {
	// socket: unix socket of the admin API, mode 0600, for
	// `nfscacheproxy cache invalidate`. Default "": cache.dir/admin.sock
	// when cache.dir is set, else none; "none" turns it off.
	Socket string `yaml:"socket"`
	// listen: optional HOST:PORT serving the admin API over TCP, every
	// request with "Authorization: Bearer TOKEN". Default "" (off).
	Listen string `yaml:"listen"`
	// token_file: file holding that TOKEN (surrounding white space is
	// ignored); required with listen.
	TokenFile string `yaml:"token_file"`
}

// AdminSocket is the path of the admin unix socket, "" for none.
func (c *Config) AdminSocket() string {
	switch {
	case c.Admin.Socket == "none":
		return ""
	case c.Admin.Socket != "":
		return c.Admin.Socket
	case c.Cache.Dir != "":
		return path.Join(c.Cache.Dir, "admin.sock")
	}
	return ""
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
	// 0 turns readahead off. Default 64 (the most; a stream starts
	// at 4 and grows while the upstream keeps up).
	Readahead int `yaml:"readahead"`
	// paranoid: re-check a granule's CRC32C on every read. Default false:
	// a granule is checked on its first read after its cache file is
	// opened (or trusted because this process wrote it), which catches
	// what a crash tore or what changed while the proxy was down, but not
	// a cache file changed behind the running proxy's back.
	Paranoid bool `yaml:"paranoid"`
	// flush_delay: how long records of newly cached data gather before
	// the cache makes them durable (one fdatasync of the data file, then
	// its record). A file written and removed within it (a build's
	// temporary) costs no fdatasync; a file filling costs one per window.
	// Nothing waits for it: after a crash the cache only under-reports.
	// 0 syncs at once. Default 1s.
	FlushDelay Duration `yaml:"flush_delay"`
	// sendfile: send the payload of a READ served wholly from the cache
	// straight from the cache file to the client's socket (sendfile(2)),
	// rather than copying it through the proxy's memory. Turn it off only
	// for a cache file system whose sendfile misbehaves. Default true.
	Sendfile bool `yaml:"sendfile"`
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
	// nlm_port: the upstream's NLM v4 TCP port, 0..65535; 0 asks its
	// portmapper (on port 111 of the upstream host). Default 0.
	NLMPort int `yaml:"nlm_port"`
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

// Default returns the built-in defaults, with no volumes.
func Default() *Config {
	return &Config{
		Listen:       ":2049",
		Portmap:      PortmapConfig{Listen: ":111"},
		NLM:          NLMConfig{Listen: ":0", PollInterval: Duration{2 * time.Second}, GracePeriod: Duration{90 * time.Second}, ClientPortmapPort: 111},
		Metrics:      MetricsConfig{Listen: ":9102"},
		Log:          LogConfig{Level: "info", Format: "text"},
		DrainTimeout: Duration{10 * time.Second},
		Limits: LimitsConfig{MaxConns: 4096, MaxConnsPerClient: 256, ConnRequests: 64, Requests: 1024, PartialRecordBytes: 64 << 20,
			IdleTimeout: Duration{15 * time.Minute}, RecordTimeout: Duration{time.Minute}, WriteTimeout: Duration{time.Minute}, RequestTimeout: Duration{5 * time.Minute}},
		Cache: CacheConfig{
			Granule: 256 << 10,
			BRun:    10, BCull: 7, BStop: 3,
			FRun: 10, FCull: 7, FStop: 3,
			Readahead:  64,
			FlushDelay: Duration{time.Second},
			Sendfile:   true,
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

// parseUpstream splits HOST:/PATH.
func parseUpstream(s string) (host, export string, err error) {
	i := strings.Index(s, ":/")
	if i <= 0 {
		return "", "", fmt.Errorf("%q is not HOST:/PATH", s)
	}
	return s[:i], s[i+1:], nil
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
