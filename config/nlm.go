package config

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
}

// equal reports whether n and o configure the same lock manager.
func (n *NLMConfig) equal(o *NLMConfig) bool {
	a, b := *n, *o
	a.Enabled, b.Enabled = nil, nil
	return a == b && (n.Enabled == nil) == (o.Enabled == nil) && (n.Enabled == nil || *n.Enabled == *o.Enabled)
}
