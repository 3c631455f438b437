package main

import (
	"github.com/spf13/pflag"

	"github.com/nfscacheproxy/nfscacheproxy/config"
)

// The configuration lives in package config. These are the names the
// wiring (and deploy_test.go) uses for it.
type (
	Config       = config.Config
	VolumeConfig = config.VolumeConfig
	Duration     = config.Duration
)

// Environment variables main reads itself.
const (
	envConfig        = config.EnvConfig
	envMetricsListen = config.EnvMetricsListen
)

// DefaultConfig returns the built-in defaults (config.Default).
func DefaultConfig() *Config { return config.Default() }

// DefaultVolume returns a volume with every default (config.DefaultVolume).
func DefaultVolume() VolumeConfig { return config.DefaultVolume() }

// LoadConfig reads a configuration file over the defaults (config.Load).
func LoadConfig(path string) (*Config, error) { return config.Load(path) }

// parseConfig decodes a configuration over the defaults (config.Parse).
func parseConfig(data []byte) (*Config, error) { return config.Parse(data) }

// ParseSize parses a byte count like 10GiB (config.ParseSize).
func ParseSize(s string) (config.Size, error) { return config.ParseSize(s) }

// serveFlagNames returns the names of the flags `serve` accepts, for
// deploy_test.go to check the deployment files against. It reads them from
// serveFlags.register, so it follows serve.go.
func serveFlagNames() []string {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	var names []string
	fs.VisitAll(func(fl *pflag.Flag) { names = append(names, fl.Name) })
	return names
}
