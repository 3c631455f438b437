package config

import "path"

// NLMConfig is the `nlm:` section: file locking (NLM v4) served and
// forwarded to the upstreams' NLM (package nlm).
type NLMConfig struct {
	// enabled: serve NLM. Default (unset): on when portmap.enabled and at
	// least one volume's upstream registers NLM v4 with its portmapper.
	// Clients find NLM only through the portmapper, so true needs
	// portmap.enabled.
	Enabled *bool `yaml:"enabled"`
	// listen: HOST:PORT for NLM over TCP and UDP (UDP on the same port
	// when free, else any). It also takes NSM's SM_NOTIFY, with which a
	// rebooted client's statd frees its locks. Default ":0" (any free
	// port; clients learn it from the portmapper).
	Listen string `yaml:"listen"`
	// name: the caller_name the upstreams see for the proxy's locks and
	// monitor through their statd. Default: the host name.
	Name string `yaml:"name"`
	// poll_interval: how often a blocked lock is retried upstream.
	// Default 2s.
	PollInterval Duration `yaml:"poll_interval"`
	// upstream_callbacks: forward blocking locks as blocking, so the
	// upstream grants them with a GRANTED callback to `name` (port 111
	// there must be this proxy's portmapper). Default false: retried
	// every poll_interval instead.
	UpstreamCallbacks bool `yaml:"upstream_callbacks"`
	// state_file: where the locks the upstreams hold for the proxy's
	// clients are recorded (written before each LOCK goes upstream), so
	// that after a restart the clients are told to reclaim them (SM_NOTIFY)
	// and are served their reclaims during grace_period. An absolute path,
	// or "none" to keep no state (after a restart the upstream keeps the
	// previous run's locks and no client can reclaim them). Default
	// cache.dir/nlm.state when cache.dir is set, else none.
	StateFile string `yaml:"state_file"`
	// grace_period: after a restart that found locks in state_file, how
	// long only reclaims are served (other LOCKs and TESTs are answered
	// denied_grace_period); locks not reclaimed by then are released
	// upstream. Default 90s (lockd's).
	GracePeriod Duration `yaml:"grace_period"`
	// client_portmap_port: the port of the clients' portmappers, through
	// which GRANTED callbacks and SM_NOTIFY find their NLM and statd.
	// Default 111.
	ClientPortmapPort int `yaml:"client_portmap_port"`
}

// NLMStateFile is the NLM state file, "" for none.
func (c *Config) NLMStateFile() string {
	switch {
	case c.NLM.StateFile == "none":
		return ""
	case c.NLM.StateFile != "":
		return c.NLM.StateFile
	case c.Cache.Dir != "":
		return path.Join(c.Cache.Dir, "nlm.state")
	}
	return ""
}

func (n *NLMConfig) validate(c *Config, p *problems) {
	if n.Enabled != nil && *n.Enabled && !c.Portmap.Enabled {
		p.add("nlm.enabled", "needs portmap.enabled: clients find NLM through the portmapper")
	}
	if n.Listen != "" {
		if r := checkHostPort(n.Listen); r != "" {
			p.add("nlm.listen", "%q %s", n.Listen, r)
		}
	}
	if n.PollInterval.Duration < 0 {
		p.add("nlm.poll_interval", "%v is negative", n.PollInterval.Duration)
	}
	if n.StateFile != "" && n.StateFile != "none" && !path.IsAbs(n.StateFile) {
		p.add("nlm.state_file", "%q is not an absolute path or \"none\"", n.StateFile)
	}
	if n.GracePeriod.Duration < 0 {
		p.add("nlm.grace_period", "%v is negative", n.GracePeriod.Duration)
	}
	if n.ClientPortmapPort < 0 || n.ClientPortmapPort > 65535 {
		p.add("nlm.client_portmap_port", "%d is not in 0..65535", n.ClientPortmapPort)
	}
}

// equal reports whether n and o configure the same lock manager.
func (n *NLMConfig) equal(o *NLMConfig) bool {
	a, b := *n, *o
	a.Enabled, b.Enabled = nil, nil
	return a == b && (n.Enabled == nil) == (o.Enabled == nil) && (n.Enabled == nil || *n.Enabled == *o.Enabled)
}
