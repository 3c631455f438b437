package main

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
)

// invalidateReply is the JSON answer of POST /admin/invalidate.
type invalidateReply struct {
	DryRun  bool            `json:"dry_run"`
	Volumes []adminVolumeID `json:"volumes"`
}

// adminVolumeID names a volume in admin answers.
type adminVolumeID struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// serveInvalidate drops the metadata caches of one volume (?volume=ID or
// ?volume=NAME, its mount path) or of all: the explicit invalidation
// static volumes rely on. Cached data is kept and revalidated against the
// fresh attributes on its next read. With ?dry_run=1 it only names the
// volumes it would invalidate (and counts against no limit).
func (a *app) serveInvalidate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dryRun, _ := strconv.ParseBool(q.Get("dry_run"))
	if !dryRun && !a.invalidateLimit.Allow() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many invalidations: at most one a second", http.StatusTooManyRequests)
		return
	}
	want := q.Get("volume")
	rep := invalidateReply{DryRun: dryRun, Volumes: []adminVolumeID{}}
	var ids []int
	for _, vc := range a.cfg.Volumes {
		if want != "" && want != strconv.Itoa(vc.ID) && want != vc.MountPath() {
			continue
		}
		if !dryRun {
			a.srv.Meta(uint16(vc.ID)).InvalidateAll(coherency.CauseExplicit)
		}
		ids = append(ids, vc.ID)
		rep.Volumes = append(rep.Volumes, adminVolumeID{ID: vc.ID, Name: vc.MountPath()})
	}
	if len(ids) == 0 {
		http.Error(w, "no such volume", http.StatusNotFound)
		return
	}
	if !dryRun {
		a.log.Info("invalidated by request", "volumes", ids, "client", r.RemoteAddr)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}
