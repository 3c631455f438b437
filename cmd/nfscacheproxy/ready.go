package main

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// addReadiness registers what /readyz checks: that this instance can serve
// its clients. Its configuration is loaded (the app exists at all), its NFS
// listeners are being served and not draining, and its cache directory is
// usable. The upstream's health is deliberately not among them: a filer
// blip would otherwise take every replica out of its Service at once and
// turn the blip into an outage, and serve-stale could not answer anyone.
// The upstream's state is nfscacheproxy_upstream_up{volume} and a log line
// per transition (upstream/health.go).
func (a *app) addReadiness() {
	a.mets.AddReadiness("serving", func(context.Context) error {
		if !a.serving.Load() {
			return errors.New("not serving NFS (starting or draining)")
		}
		return nil
	})
	if dir := a.cfg.Cache.Dir; dir != "" {
		a.mets.AddReadiness("cache", func(context.Context) error {
			return cacheUsable(dir)
		})
	}
}

// cacheUsable reports whether the cache directory can be searched and
// written: access(2) with W_OK also fails on a read-only filesystem.
func cacheUsable(dir string) error {
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("cache directory %s: %w", dir, err)
	}
	return nil
}
