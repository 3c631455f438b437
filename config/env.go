package config

import (
	"errors"
	"fmt"
	"path"
	"slices"
)

// Environment variables read by ApplyEnv (and EnvConfig by cmd/nfscacheproxy). An empty
// value counts as unset.
const (
	EnvConfig        = "NFSCACHEPROXY_CONFIG"         // path of the configuration file, when --config is not given
	EnvListen        = "NFSCACHEPROXY_LISTEN"         // listen
	EnvCacheDir      = "NFSCACHEPROXY_CACHE_DIR"      // cache.dir
	EnvMetricsListen = "NFSCACHEPROXY_METRICS_LISTEN" // metrics.listen
	EnvLogLevel      = "NFSCACHEPROXY_LOG_LEVEL"      // log.level
	EnvLogFormat     = "NFSCACHEPROXY_LOG_FORMAT"     // log.format
	EnvUpstream      = "NFSCACHEPROXY_UPSTREAM"       // upstream of volume 1 (created when missing)
)

// ApplyEnv overrides fields from the environment (see the env* constants).
// NFSCACHEPROXY_UPSTREAM sets the upstream of volume 1, creating it with
// defaults when the configuration has no volume 1; other volumes are kept.
// Values are checked here, with errors naming the variable.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	var errs []error
	bad := func(name, v, reason string) { errs = append(errs, fmt.Errorf("%s: %q %s", name, v, reason)) }
	if v := getenv(EnvListen); v != "" {
		if r := checkHostPort(v); r != "" {
			bad(EnvListen, v, r)
		}
		c.Listen = v
	}
	if v := getenv(EnvCacheDir); v != "" {
		if !path.IsAbs(v) {
			bad(EnvCacheDir, v, "is not an absolute path")
		}
		c.Cache.Dir = v
	}
	if v := getenv(EnvMetricsListen); v != "" {
		if r := checkHostPort(v); r != "" {
			bad(EnvMetricsListen, v, r)
		}
		c.Metrics.Listen = v
	}
	if v := getenv(EnvLogLevel); v != "" {
		if !slices.Contains(logLevels, v) {
			bad(EnvLogLevel, v, "is not debug, info, warn or error")
		}
		c.Log.Level = v
	}
	if v := getenv(EnvLogFormat); v != "" {
		if v != "text" && v != "json" {
			bad(EnvLogFormat, v, "is not text or json")
		}
		c.Log.Format = v
	}
	if v := getenv(EnvUpstream); v != "" {
		if r := checkUpstream(v); r != "" {
			bad(EnvUpstream, v, r)
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
