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
