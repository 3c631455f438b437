package config

import (
	"strings"
	"testing"
)

func TestNLMConfigValidation(t *testing.T) {
	cases := []struct {
		yaml, want string // want: a substring of the error; "" = valid
	}{
		{"nlm:\n  enabled: true\n", "nlm.enabled"},
		{"portmap:\n  enabled: true\nnlm:\n  enabled: true\n", ""},
		{"nlm:\n  enabled: false\n", ""},
		{"nlm:\n  listen: nonsense\n", "nlm.listen"},
		{"nlm:\n  poll_interval: -1s\n", "nlm.poll_interval"},
		{"nlm:\n  state_file: relative/nlm.state\n", "nlm.state_file"},
		{"nlm:\n  state_file: none\n", ""},
		{"nlm:\n  state_file: /var/lib/p/nlm.state\n", ""},
		{"nlm:\n  grace_period: -1s\n", "nlm.grace_period"},
		{"nlm:\n  client_portmap_port: 70000\n", "nlm.client_portmap_port"},
	}
	for _, c := range cases {
		cfg, err := Parse([]byte(c.yaml + "volumes:\n  - id: 1\n    upstream: filer:/export\n"))
		if err == nil {
			err = cfg.Validate()
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: got %v; want valid", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: got %v; want an error naming %s", c.yaml, err, c.want)
		}
	}
}

func TestNLMChangeNeedsRestart(t *testing.T) {
	on, on2, off := true, true, false
	old := Default()
	old.NLM.Enabled = &on
	same := Default()
	same.NLM.Enabled = &on2
	if r := RestartNeeded(old, same); len(r) != 0 {
		t.Fatalf("same nlm section: got %v; want nothing", r)
	}
	for _, next := range []func(*Config){
		func(c *Config) { c.NLM.Enabled = &off },
		func(c *Config) { c.NLM.Enabled = nil },
		func(c *Config) { c.NLM.Name = "other" },
	} {
		c := Default()
		c.NLM.Enabled = &on
		next(c)
		if r := RestartNeeded(old, c); len(r) != 1 || r[0] != "nlm" {
			t.Errorf("changed nlm section: got %v; want [nlm]", r)
		}
	}
}

func TestNLMStateFile(t *testing.T) {
	for _, tc := range []struct{ cacheDir, stateFile, want string }{
		{"", "", ""},
		{"/var/cache/p", "", "/var/cache/p/nlm.state"},
		{"/var/cache/p", "none", ""},
		{"/var/cache/p", "/var/lib/p/locks", "/var/lib/p/locks"},
		{"", "/var/lib/p/locks", "/var/lib/p/locks"},
	} {
		c := Default()
		c.Cache.Dir, c.NLM.StateFile = tc.cacheDir, tc.stateFile
		if got := c.NLMStateFile(); got != tc.want {
			t.Errorf("cache.dir %q, nlm.state_file %q: got %q; want %q", tc.cacheDir, tc.stateFile, got, tc.want)
		}
	}
}

func TestVolumeNLMPort(t *testing.T) {
	cfg, err := Parse([]byte("volumes:\n  - id: 1\n    upstream: filer:/export\n    nlm_port: 70000\n"))
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "nlm_port") {
		t.Fatalf("nlm_port 70000: got %v; want an error naming nlm_port", err)
	}
}
