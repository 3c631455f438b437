package main

import (
	"strconv"
	"strings"

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
	procName := func(i int) string { return strings.ToLower(nfs3.ProcName(uint32(i))) }

	reg.MustRegister(metrics.NewSnapshotCollector(a.srv.Stats,
		metrics.Gauge("nfscacheproxy_connections", "Open client connections.",
			func(s proxy.Stats) float64 { return float64(s.Connections) }),
		metrics.Gauge("nfscacheproxy_requests_in_flight", "Client requests being served.",
			func(s proxy.Stats) float64 { return float64(s.InFlight) }),
		metrics.CounterVec("nfscacheproxy_requests_total", "NFS requests by procedure.", []string{"proc"},
			func(s proxy.Stats, emit func(float64, ...string)) {
				for i, n := range s.Calls {
					emit(float64(n), procName(i))
				}
			}),
		metrics.CounterVec("nfscacheproxy_request_failures_total", "NFS replies whose status was not NFS3_OK, by procedure.", []string{"proc"},
			func(s proxy.Stats, emit func(float64, ...string)) {
				for i, n := range s.Errors {
					emit(float64(n), procName(i))
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
		metrics.Counter("nfscacheproxy_stale_served_total", "Answers served from caches while the upstream was unreachable.",
			func(s proxy.Stats) float64 { return float64(s.StaleServed) }),
	))

	for i, up := range a.ups {
		vol := strconv.Itoa(a.cfg.Volumes[i].ID)
		reg.MustRegister(metrics.NewSnapshotCollector(up.Stats,
			metrics.CounterVec("nfscacheproxy_upstream_calls_total", "Calls to the upstream, by volume and procedure.", []string{"volume", "proc"},
				func(s upstream.Stats, emit func(float64, ...string)) {
					for p, n := range s.ProcCalls {
						if n > 0 {
							emit(float64(n), vol, procName(p))
						}
					}
				}),
			metrics.GaugeVec("nfscacheproxy_upstream_in_flight", "Upstream calls waiting for a reply.", []string{"volume"},
				func(s upstream.Stats, emit func(float64, ...string)) { emit(float64(s.InFlight), vol) }),
			metrics.CounterVec("nfscacheproxy_upstream_retries_total", "Upstream call retries.", []string{"volume"},
				func(s upstream.Stats, emit func(float64, ...string)) { emit(float64(s.Retries), vol) }),
			metrics.CounterVec("nfscacheproxy_upstream_reconnects_total", "Upstream connections re-established.", []string{"volume"},
				func(s upstream.Stats, emit func(float64, ...string)) { emit(float64(s.Reconnects), vol) }),
			metrics.CounterVec("nfscacheproxy_upstream_errors_total", "Upstream calls that failed in transport.", []string{"volume"},
				func(s upstream.Stats, emit func(float64, ...string)) { emit(float64(s.Errors), vol) }),
			metrics.CounterVec("nfscacheproxy_upstream_read_bytes_total", "READ payload bytes fetched from the upstream.", []string{"volume"},
				func(s upstream.Stats, emit func(float64, ...string)) { emit(float64(s.ReadBytes), vol) }),
			metrics.CounterVec("nfscacheproxy_upstream_write_bytes_total", "WRITE payload bytes sent to the upstream.", []string{"volume"},
				func(s upstream.Stats, emit func(float64, ...string)) { emit(float64(s.WriteBytes), vol) }),
		))
		meta := a.srv.Meta(uint16(a.cfg.Volumes[i].ID))
		reg.MustRegister(metrics.NewSnapshotCollector(meta.Stats,
			metrics.CounterVec("nfscacheproxy_meta_hits_total", "Metadata answers served from cache, by kind.", []string{"volume", "kind"},
				func(s coherency.Stats, emit func(float64, ...string)) {
					emit(float64(s.AttrHits), vol, "attr")
					emit(float64(s.NameHits), vol, "name")
					emit(float64(s.NegativeHits), vol, "negative_name")
					emit(float64(s.ListingHits), vol, "listing")
					emit(float64(s.AccessHits), vol, "access")
					emit(float64(s.ReadlinkHits), vol, "readlink")
				}),
			metrics.CounterVec("nfscacheproxy_meta_misses_total", "Metadata lookups the cache could not answer, by kind.", []string{"volume", "kind"},
				func(s coherency.Stats, emit func(float64, ...string)) {
					emit(float64(s.AttrMisses), vol, "attr")
					emit(float64(s.NameMisses), vol, "name")
					emit(float64(s.ListingMisses), vol, "listing")
					emit(float64(s.AccessMisses), vol, "access")
					emit(float64(s.ReadlinkMisses), vol, "readlink")
				}),
			metrics.CounterVec("nfscacheproxy_meta_revalidations_total", "Attribute revalidations from upstream replies.", []string{"volume"},
				func(s coherency.Stats, emit func(float64, ...string)) { emit(float64(s.AttrRevalidations), vol) }),
			metrics.CounterVec("nfscacheproxy_meta_invalidations_total", "Metadata invalidations, by cause.", []string{"volume", "cause"},
				func(s coherency.Stats, emit func(float64, ...string)) {
					for c, n := range s.Invalidations {
						emit(float64(n), vol, coherency.Cause(c).String())
					}
				}),
			metrics.GaugeVec("nfscacheproxy_meta_entries", "Entries held by the metadata caches, by kind.", []string{"volume", "kind"},
				func(s coherency.Stats, emit func(float64, ...string)) {
					emit(float64(s.AttrEntries), vol, "attr")
					emit(float64(s.NameEntries), vol, "name")
					emit(float64(s.ListingPages), vol, "listing_page")
				}),
		))
	}

	if a.store != nil {
		c := func(name, help string, f func(cache.Stats) uint64) metrics.SnapshotMetric[cache.Stats] {
			return metrics.Counter(name, help, func(s cache.Stats) float64 { return float64(f(s)) })
		}
		reg.MustRegister(metrics.NewSnapshotCollector(a.store.Stats,
			c("nfscacheproxy_cache_lookups_total", "READs that consulted the data cache.", func(s cache.Stats) uint64 { return s.Lookups }),
			c("nfscacheproxy_cache_hits_total", "READs served wholly from the data cache.", func(s cache.Stats) uint64 { return s.Hits }),
			c("nfscacheproxy_cache_partial_hits_total", "READs served partly from the data cache.", func(s cache.Stats) uint64 { return s.PartialHits }),
			c("nfscacheproxy_cache_misses_total", "READs with nothing from the data cache.", func(s cache.Stats) uint64 { return s.Misses }),
			c("nfscacheproxy_cache_bytes_from_cache_total", "Bytes served from the data cache.", func(s cache.Stats) uint64 { return s.BytesFromCache }),
			c("nfscacheproxy_cache_bytes_from_upstream_total", "Bytes the data cache fetched from the upstream.", func(s cache.Stats) uint64 { return s.BytesFromUpstream }),
			c("nfscacheproxy_cache_fills_total", "Granules stored.", func(s cache.Stats) uint64 { return s.Fills }),
			c("nfscacheproxy_cache_readaheads_total", "Granules fetched ahead of sequential readers.", func(s cache.Stats) uint64 { return s.Readaheads }),
			c("nfscacheproxy_cache_invalidations_total", "Cached objects invalidated.", func(s cache.Stats) uint64 { return s.Invalidations }),
			c("nfscacheproxy_cache_culls_total", "Cached objects culled.", func(s cache.Stats) uint64 { return s.Culls }),
			c("nfscacheproxy_cache_no_space_total", "Granules not stored for lack of space.", func(s cache.Stats) uint64 { return s.NoSpace }),
			c("nfscacheproxy_cache_io_errors_total", "Cache I/O failures degraded to pass-through.", func(s cache.Stats) uint64 { return s.IOErrors }),
			c("nfscacheproxy_cache_checksum_failures_total", "Granules whose bytes did not match their checksum.", func(s cache.Stats) uint64 { return s.ChecksumFailures }),
			metrics.Gauge("nfscacheproxy_cache_objects", "Objects in the data cache.", func(s cache.Stats) float64 { return float64(s.Objects) }),
			metrics.Gauge("nfscacheproxy_cache_bytes_used", "Bytes of data in the data cache.", func(s cache.Stats) float64 { return float64(s.BytesUsed) }),
		))
	}
}
