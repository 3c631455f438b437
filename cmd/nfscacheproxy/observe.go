package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/metrics"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// registerMetrics turns every component's Stats() into Prometheus series:
// the one place metrics are registered. Names are documented in the README.
func (a *app) registerMetrics() {
	reg := a.mets.Registry()

	reg.MustRegister(metrics.NewSnapshotCollector(a.srv.Stats,
		metrics.Gauge("nfscacheproxy_connections", "Open client connections.",
			func(s proxy.Stats) float64 { return float64(s.Connections) }),
		metrics.Gauge("nfscacheproxy_requests_in_flight", "Client requests being served.",
			func(s proxy.Stats) float64 { return float64(s.InFlight) }),
		metrics.Gauge("nfscacheproxy_partial_record_bytes", "Bytes held by requests that have begun to arrive and are not complete (bounded by limits.partial_record_bytes).",
			func(s proxy.Stats) float64 { return float64(s.PartialRecordBytes) }),
		metrics.CounterVec("nfscacheproxy_requests_total", "NFS requests by procedure.", []string{"proc"},
			func(s proxy.Stats, emit func(float64, ...string)) {
				for i, n := range s.Calls {
					emit(float64(n), nfs3.ProcLabel(uint32(i)))
				}
			}),
		metrics.CounterVec("nfscacheproxy_request_failures_total", "NFS replies whose status was not NFS3_OK, by procedure.", []string{"proc"},
			func(s proxy.Stats, emit func(float64, ...string)) {
				for i, n := range s.Errors {
					emit(float64(n), nfs3.ProcLabel(uint32(i)))
				}
			}),
		metrics.Counter("nfscacheproxy_garbage_requests_total", "Requests answered GARBAGE_ARGS or dropped unparsed.",
			func(s proxy.Stats) float64 { return float64(s.Garbage) }),
		metrics.Counter("nfscacheproxy_auth_errors_total", "Requests refused with AUTH_ERROR.",
			func(s proxy.Stats) float64 { return float64(s.AuthErrors) }),
		metrics.Counter("nfscacheproxy_refused_total", "MNT or NFS calls refused by a volume's export policy.",
			func(s proxy.Stats) float64 { return float64(s.Refused) }),
		metrics.Counter("nfscacheproxy_panics_total", "Handler panics recovered.",
			func(s proxy.Stats) float64 { return float64(s.Panics) }),
		metrics.Counter("nfscacheproxy_drc_hits_total", "Retransmissions answered from the duplicate-request cache.",
			func(s proxy.Stats) float64 { return float64(s.DRCHits) }),
		metrics.Counter("nfscacheproxy_read_sendfile_bytes_total", "READ payload bytes sent from cache files with sendfile rather than copied through the proxy's memory.",
			func(s proxy.Stats) float64 { return float64(s.SendfileBytes) }),
		metrics.Counter("nfscacheproxy_stale_served_total", "Answers served from caches while the upstream was unreachable.",
			func(s proxy.Stats) float64 { return float64(s.StaleServed) }),
		metrics.Counter("nfscacheproxy_volume_busy_total", "Requests answered at once (JUKEBOX, or IO when soft) because their volume's upstream already held three quarters of the request slots.",
			func(s proxy.Stats) float64 { return float64(s.VolumeBusy) }),
	))

	reg.MustRegister(metrics.NewSnapshotCollector(a.srv.Rejections,
		metrics.CounterVec("nfscacheproxy_rejected_requests_total", "Requests refused for a bad name or a protocol limit, and GARBAGE_ARGS, by reason.", []string{"reason"},
			func(s proxy.RejectStats, emit func(float64, ...string)) {
				for reason, n := range s.ByReason {
					emit(float64(n), reason)
				}
			}),
	))

	reg.MustRegister(metrics.NewSnapshotCollector(a.srv.ConnStats,
		metrics.Counter("nfscacheproxy_connections_rejected_total", "Connections closed at once because the connection cap (max_conns, or max_conns_per_client for their address) was reached.",
			func(s proxy.ConnStats) float64 { return float64(s.Rejected) }),
		metrics.Counter("nfscacheproxy_connections_rejected_per_client_total", "Connections closed at once because their address had max_conns_per_client open.",
			func(s proxy.ConnStats) float64 { return float64(s.RejectedPerClient) }),
		metrics.Counter("nfscacheproxy_connections_not_admitted_total", "Connections closed at accept because no volume admits their address.",
			func(s proxy.ConnStats) float64 { return float64(s.NotAdmitted) }),
		metrics.Counter("nfscacheproxy_connections_idle_closed_total", "Connections closed for sending no request, or no end of a started one within the record timeout.",
			func(s proxy.ConnStats) float64 { return float64(s.IdleClosed) }),
		metrics.Counter("nfscacheproxy_connections_write_timeouts_total", "Connections closed because a reply could not be written in time (clients not reading).",
			func(s proxy.ConnStats) float64 { return float64(s.WriteTimeouts) }),
	))

	// One collector per family for all volumes (a collector per volume
	// would describe the same series twice), labelled by volume id.
	type volStats struct {
		id   string
		up   upstream.Stats
		meta coherency.Stats
	}
	snapshot := func() []volStats {
		out := make([]volStats, len(a.ups))
		for i, up := range a.ups {
			id := a.cfg.Volumes[i].ID
			out[i] = volStats{id: strconv.Itoa(id), up: up.Stats(), meta: a.srv.Meta(uint16(id)).Stats()}
		}
		return out
	}
	perVol := func(f func(v *volStats, emit func(float64, ...string))) func([]volStats, func(float64, ...string)) {
		return func(vs []volStats, emit func(float64, ...string)) {
			for i := range vs {
				f(&vs[i], emit)
			}
		}
	}
	vol := []string{"volume"}
	reg.MustRegister(metrics.NewSnapshotCollector(snapshot,
		metrics.CounterVec("nfscacheproxy_upstream_calls_total", "Calls to the upstream, by volume and procedure.", []string{"volume", "proc"},
			perVol(func(v *volStats, emit func(float64, ...string)) {
				for p, n := range v.up.ProcCalls {
					if n > 0 {
						emit(float64(n), v.id, nfs3.ProcLabel(uint32(p)))
					}
				}
			})),
		metrics.GaugeVec("nfscacheproxy_upstream_in_flight", "Upstream calls waiting for a reply.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.InFlight), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_retries_total", "Upstream call retries.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.Retries), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_reconnects_total", "Upstream connections re-established.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.Reconnects), v.id) })),
		metrics.GaugeVec("nfscacheproxy_upstream_up", "1 while the upstream answers; 0 from a failed dial, a lost connection or a hang until its next reply.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) {
				up := 0.0
				if v.up.Up {
					up = 1
				}
				emit(up, v.id)
			})),
		metrics.CounterVec("nfscacheproxy_upstream_down_total", "Times the upstream was seen to stop answering.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.Downs), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_hangs_total", "Upstream connections broken because calls were outstanding and a NULL ping got no answer.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.Hangs), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_abandoned_calls_total", "Upstream calls failed (NFS3ERR_IO) instead of sent a third time: their connection died twice while they were in flight.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.Abandoned), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_errors_total", "Upstream calls that failed in transport.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.Errors), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_read_bytes_total", "READ payload bytes fetched from the upstream.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.ReadBytes), v.id) })),
		metrics.CounterVec("nfscacheproxy_upstream_write_bytes_total", "WRITE payload bytes sent to the upstream.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.up.WriteBytes), v.id) })),
		metrics.CounterVec("nfscacheproxy_meta_hits_total", "Metadata answers served from cache, by kind.", []string{"volume", "kind"},
			perVol(func(v *volStats, emit func(float64, ...string)) {
				s := &v.meta
				emit(float64(s.AttrHits), v.id, "attr")
				emit(float64(s.NameHits), v.id, "name")
				emit(float64(s.NegativeHits), v.id, "negative_name")
				emit(float64(s.ListingHits), v.id, "listing")
				emit(float64(s.AccessHits), v.id, "access")
				emit(float64(s.ReadlinkHits), v.id, "readlink")
			})),
		metrics.CounterVec("nfscacheproxy_meta_misses_total", "Metadata lookups the cache could not answer, by kind.", []string{"volume", "kind"},
			perVol(func(v *volStats, emit func(float64, ...string)) {
				s := &v.meta
				emit(float64(s.AttrMisses), v.id, "attr")
				emit(float64(s.NameMisses), v.id, "name")
				emit(float64(s.ListingMisses), v.id, "listing")
				emit(float64(s.AccessMisses), v.id, "access")
				emit(float64(s.ReadlinkMisses), v.id, "readlink")
			})),
		metrics.CounterVec("nfscacheproxy_meta_revalidations_total", "Attribute revalidations from upstream replies.", vol,
			perVol(func(v *volStats, emit func(float64, ...string)) { emit(float64(v.meta.AttrRevalidations), v.id) })),
		metrics.CounterVec("nfscacheproxy_meta_invalidations_total", "Metadata invalidations, by cause.", []string{"volume", "cause"},
			perVol(func(v *volStats, emit func(float64, ...string)) {
				for c, n := range v.meta.Invalidations {
					emit(float64(n), v.id, coherency.Cause(c).String())
				}
			})),
		metrics.CounterVec("nfscacheproxy_meta_wcc_total", "WCC data of the proxy's own changes: ours (cache kept), others (invalidated), stand_in (a WRITE without pre-op attributes whose cached ones stood in).", []string{"volume", "result"},
			perVol(func(v *volStats, emit func(float64, ...string)) {
				emit(float64(v.meta.WccOurs), v.id, "ours")
				emit(float64(v.meta.WccOthers), v.id, "others")
				emit(float64(v.meta.WccStandIns), v.id, "stand_in")
			})),
		metrics.GaugeVec("nfscacheproxy_meta_entries", "Entries held by the metadata caches, by kind.", []string{"volume", "kind"},
			perVol(func(v *volStats, emit func(float64, ...string)) {
				emit(float64(v.meta.AttrEntries), v.id, "attr")
				emit(float64(v.meta.NameEntries), v.id, "name")
				emit(float64(v.meta.ListingPages), v.id, "listing_page")
			})),
	))

	if a.store != nil {
		a.registerCacheMetrics(reg)
	}
}

// registerCacheMetrics exports the data cache: reads per volume (labelled
// volume, like every other per-volume family), and the cache directory's
// own state, which every volume shares (one size cap, one culler), as
// nfscacheproxy_store_*.
func (a *app) registerCacheMetrics(reg prometheus.Registerer) {
	type volRead struct {
		id string
		s  cache.VolumeStats
	}
	snapshot := func() []volRead {
		out := make([]volRead, len(a.cfg.Volumes))
		for i, vc := range a.cfg.Volumes {
			out[i] = volRead{id: strconv.Itoa(vc.ID), s: a.store.VolumeStats(uint16(vc.ID))}
		}
		return out
	}
	vc := func(name, help string, f func(cache.VolumeStats) uint64) metrics.SnapshotMetric[[]volRead] {
		return metrics.CounterVec(name, help, []string{"volume"}, func(vs []volRead, emit func(float64, ...string)) {
			for _, v := range vs {
				emit(float64(f(v.s)), v.id)
			}
		})
	}
	reg.MustRegister(metrics.NewSnapshotCollector(snapshot,
		vc("nfscacheproxy_cache_reads_total", "READs that went through the data cache, by volume.", func(s cache.VolumeStats) uint64 { return s.Reads }),
		vc("nfscacheproxy_cache_hits_total", "READs served wholly from the data cache, by volume.", func(s cache.VolumeStats) uint64 { return s.Hits }),
		vc("nfscacheproxy_cache_partial_hits_total", "READs served partly from the data cache, by volume.", func(s cache.VolumeStats) uint64 { return s.PartialHits }),
		vc("nfscacheproxy_cache_misses_total", "READs with nothing from the data cache, by volume.", func(s cache.VolumeStats) uint64 { return s.Misses }),
		vc("nfscacheproxy_cache_bytes_from_cache_total", "Bytes served from the data cache (upstream bytes saved), by volume.", func(s cache.VolumeStats) uint64 { return s.BytesFromCache }),
		vc("nfscacheproxy_cache_bytes_from_upstream_total", "Bytes the data cache fetched from the upstream for READs, by volume.", func(s cache.VolumeStats) uint64 { return s.BytesFromUpstream }),
	))

	c := func(name, help string, f func(cache.Stats) uint64) metrics.SnapshotMetric[cache.Stats] {
		return metrics.Counter(name, help, func(s cache.Stats) float64 { return float64(f(s)) })
	}
	reg.MustRegister(metrics.NewSnapshotCollector(a.store.Stats,
		c("nfscacheproxy_store_fills_total", "Granules stored in the cache directory.", func(s cache.Stats) uint64 { return s.Fills }),
		c("nfscacheproxy_store_readaheads_total", "Granules fetched ahead of sequential readers.", func(s cache.Stats) uint64 { return s.Readaheads }),
		c("nfscacheproxy_store_invalidations_total", "Cached objects invalidated.", func(s cache.Stats) uint64 { return s.Invalidations }),
		c("nfscacheproxy_store_culls_total", "Cached objects culled to keep within the size cap and free-space limits.", func(s cache.Stats) uint64 { return s.Culls }),
		c("nfscacheproxy_store_no_space_total", "Granules not stored for lack of space.", func(s cache.Stats) uint64 { return s.NoSpace }),
		c("nfscacheproxy_store_io_errors_total", "Cache I/O failures degraded to pass-through.", func(s cache.Stats) uint64 { return s.IOErrors }),
		c("nfscacheproxy_store_checksum_failures_total", "Granules whose bytes did not match their checksum.", func(s cache.Stats) uint64 { return s.ChecksumFailures }),
		metrics.Gauge("nfscacheproxy_store_objects", "Objects in the cache directory.", func(s cache.Stats) float64 { return float64(s.Objects) }),
		metrics.Gauge("nfscacheproxy_store_bytes", "Bytes of data in the cache directory.", func(s cache.Stats) float64 { return float64(s.BytesUsed) }),
		metrics.Gauge("nfscacheproxy_store_max_bytes", "The cache's size cap (cache.max_size); 0: only free-space limits.", func(cache.Stats) float64 { return float64(a.cfg.Cache.MaxSize) }),
	))
}
