package config

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
)

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
	c.NLM.validate(c, &p)
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
	if a := c.Admin.Socket; a != "" && a != "none" && !path.IsAbs(a) {
		p.add("admin.socket", "%q is not an absolute path (\"\": cache.dir/admin.sock; \"none\": off)", a)
	}
	if c.Admin.Listen != "" {
		if r := checkHostPort(c.Admin.Listen); r != "" {
			p.add("admin.listen", "%q %s", c.Admin.Listen, r)
		} else if c.Admin.Listen == c.Metrics.Listen && !strings.HasSuffix(c.Admin.Listen, ":0") {
			p.add("admin.listen", "%q is the metrics listener, which stays read-only", c.Admin.Listen)
		}
		if c.Admin.TokenFile == "" {
			p.add("admin.token_file", "required when admin.listen is set: the admin API over TCP needs a bearer token")
		}
	}
	if c.Admin.TokenFile != "" && !path.IsAbs(c.Admin.TokenFile) {
		p.add("admin.token_file", "%q is not an absolute path", c.Admin.TokenFile)
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
		p.add("volumes", "none configured; add one here, or set %s or --upstream", EnvUpstream)
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
	if cc.FlushDelay.Duration < 0 {
		p.add("cache.flush_delay", "%v is negative (0 syncs at once)", cc.FlushDelay.Duration)
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
	if v.NLMPort < 0 || v.NLMPort > 65535 {
		p.add(at+".nlm_port", "%d is not in 0..65535", v.NLMPort)
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
