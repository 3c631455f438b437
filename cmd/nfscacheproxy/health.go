package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthFlags are the flags of `health`.
type healthFlags struct {
	metrics string
	config  string
	timeout time.Duration
}

func newHealthCmd() *cobra.Command {
	var f healthFlags
	cmd := &cobra.Command{
		Use:   "health [--metrics HOST:PORT|URL]",
		Short: "Exit 0 when the running proxy's /healthz answers 200",
		Long: `Ask the running proxy's /healthz (on its metrics listener) whether the process is alive: exit 0
when it answers 200, else exit 1 with the reason. For container HEALTHCHECKs and scripts.

The address is --metrics; without it, metrics.listen of the configuration (--config or
$NFSCACHEPROXY_CONFIG, then $NFSCACHEPROXY_METRICS_LISTEN), else 127.0.0.1:9102. An address
with no host (":9102") is asked on 127.0.0.1.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return health(cmd.Context(), &f, os.Getenv, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.metrics, "metrics", "", "the proxy's metrics address HOST:PORT or URL (default: from the configuration, else 127.0.0.1:9102)")
	fs.StringVar(&f.config, "config", "", "YAML configuration file to read metrics.listen from (also $NFSCACHEPROXY_CONFIG)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// healthURL is the /healthz URL to ask: --metrics, else the metrics
// listener of the configuration (file, then environment).
func (f *healthFlags) healthURL(getenv func(string) string) (string, error) {
	addr := f.metrics
	if addr == "" {
		cfg, err := clientConfig(f.config, getenv)
		if err != nil {
			return "", err
		}
		if cfg.Metrics.Listen == "" {
			return "", errors.New("the metrics listener is off (metrics.listen is empty): nothing to ask")
		}
		addr = cfg.Metrics.Listen
	}
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/") + "/healthz", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageError{fmt.Errorf("--metrics: %q is not HOST:PORT or a URL", addr)}
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// health asks /healthz and fails unless it answers 200.
func health(ctx context.Context, f *healthFlags, getenv func(string) string, stdout io.Writer) error {
	u, err := f.healthURL(getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = fmt.Fprintf(stdout, "healthy: %s answered %s\n", u, resp.Status)
	return err
}

// clientConfig is the configuration a client command (health, cache
// invalidate) reads to find the running proxy: defaults, the file
// (--config or $NFSCACHEPROXY_CONFIG), the environment; not validated, as
// the volumes do not matter here.
func clientConfig(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		path = getenv(envConfig)
	}
	cfg := DefaultConfig()
	if path != "" {
		var err error
		if cfg, err = LoadConfig(path); err != nil {
			return nil, err
		}
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return nil, err
	}
	return cfg, nil
}
