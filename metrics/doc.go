// Package metrics serves the proxy's operational HTTP endpoints on their own
// listener: Prometheus exposition, liveness, readiness and, when enabled,
// pprof. It also has small helpers that turn components' Stats() snapshots
// and per-procedure latencies into Prometheus collectors, so that every
// registration happens in one place (cmd/nfscacheproxy) on one registry
// and no package keeps global metric state.
//
// Endpoints (Server):
//
//	/metrics          Prometheus text or OpenMetrics, from Server.Registry()
//	/healthz          200 "ok" while the process runs (liveness)
//	/readyz           200 "ok" when every readiness check passes, else 503
//	                  and one line per failing check ("name: error")
//	/debug/pprof/...  net/http/pprof, only with Options.Pprof
//
// Semantics. /healthz is liveness: it answers as long as the HTTP server
// runs, and a failing /healthz means "restart me". /readyz is readiness:
// whether this instance can serve its clients now, so a load balancer or a
// Kubernetes Service should send it traffic. The checks are the caller's
// (AddReadiness); the proxy registers "serving" (its NFS listeners are
// served and it is not draining) and "cache" (the cache directory is
// searchable and writable). It deliberately does not check the upstream:
// when the filer blips every replica would leave its Service at once and
// a blip would become an outage, and serve-stale could answer no one.
// Upstream health is the nfscacheproxy_upstream_up{volume} gauge and a log
// line per transition ("upstream down" with the reason, "upstream up
// again" with how long it was down).
//
// Readiness checks run concurrently, each with Options.ReadyTimeout
// (default 2s); a check that has not returned by then fails as timed out.
// The result is kept for Options.ReadyCacheFor (default 1s), so a probe
// storm runs the checks at most once a second; concurrent probes share one
// evaluation.
//
// Metric names defined here (all prefixed nfscacheproxy_):
//
//	nfscacheproxy_build_info{version,revision,goversion}  gauge, always 1 (New registers it)
//	nfscacheproxy_<name>_duration_seconds{prog,proc}  histogram (ProcHistograms)
//	nfscacheproxy_<name>_errors_total{prog,proc}      counter   (ProcHistograms)
//
// With ProcHistogramOpts.Results the histogram also has a result label
// (ObserveResult); the proxy's "request" histogram uses hit, miss and pass
// (see proxy.Options.Observer).
//
// where <name> is ProcHistogramOpts.Name; the proxy uses "request" (client
// requests: prog "nfs" or "mount", proc the lower-case procedure name,
// e.g. nfscacheproxy_request_duration_seconds{prog="nfs",proc="read"}) and
// "upstream_call" (calls to the upstream server). A request counts as an
// error when its reply status is not OK (NFS3ERR_*, MNT3ERR_*, or an RPC
// error). The request count is the histogram's _count.
//
// Metrics built with NewSnapshotCollector take their names from the caller
// and must also start with nfscacheproxy_; the registry also carries the
// standard go_* and process_* collectors and go_build_info.
//
// Errors: Serve returns nil after Shutdown and the listener's error
// otherwise. A snapshot value whose labels do not match its description is
// reported as a scrape error for that metric only (the rest is served).
//
// Concurrency: every method is safe for concurrent use. Readiness check
// goroutines are owned by the Server: their context is cancelled by
// Shutdown, which waits for them (up to its own context).
//
// Caching: the readiness result, for ReadyCacheFor. Nothing else.
//
// It owns the Prometheus registration, the HTTP listener and readiness;
// it must not compute statistics (components expose Stats() snapshots).
// Lock order: readiness.mu is the only lock and a leaf; the checks run
// without it.
package metrics
