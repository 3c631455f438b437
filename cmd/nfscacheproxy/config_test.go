package main

import "testing"

func TestConfigServeFlagNames(t *testing.T) {
	names := serveFlagNames()
	for _, want := range []string{"config", "upstream", "listen", "log-level", "drain-timeout"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("serveFlagNames(): %v has no %q", names, want)
		}
	}
}
