// Package bench drives an NFSv3 server — the proxy or an upstream directly —
// with standard workloads and reports throughput, latency and, for the proxy,
// how many upstream calls and bytes each client call and byte cost.
//
// # Model
//
// A [Workload] has a Name, a Setup that creates its data set on the server
// when it is missing (untimed, idempotent: a marker file "<dataset>.done" in
// the bench directory records a finished data set), and a Run that resolves
// the handles it needs (untimed) and returns a [Job]: the body every one of
// [Params.Concurrency] workers executes, timed, plus an optional timed Finish
// (COMMIT) and an untimed Cleanup. Every data set lives under
// [Params.Dir] ("nfsbench") in the export, in a directory named after its
// parameters, so runs with other sizes never see each other's files.
//
// The client is our own [upstream.Client] with AUTH_SYS uid 0, gid 0. An op
// is what a user would time: a READ or WRITE of one block, a stat
// (LOOKUP+GETATTR), one full directory listing (every READDIRPLUS page), one
// directory of a tree walk, one create+write+remove. The client's RPC count
// is reported next to the ops. Data written by Setup carries a per-page stamp
// (file key and offset) and every READ checks it, so a server (or proxy)
// returning wrong data fails the run with [ErrVerify].
//
// A run is bounded by its work list, [Params.MaxOps] and [Params.Duration]
// (mixed has no work list: it runs for Duration, default 5s). Latencies go
// into a log-linear histogram per worker (about 3% resolution, 16 KiB), so
// memory does not grow with the number of ops.
//
// When [Target.MetricsURL] is set, the Prometheus text exposition is scraped
// before and after each timed run and the deltas of the upstream counters
// ([Options.CallsMetric], [Options.ReadBytesMetric], summed over labels) are
// divided by the client's calls and read bytes.
//
// [RunMatrix] runs the standard matrix: a real nfs-ganesha (integration/harness),
// a pair of WAN relays (integration/wanrelay) adding [MatrixOptions.RTT], and
// the proxy as a child process, in four configurations: direct-near,
// direct-far, proxy-cold-far and proxy-warm-far.
//
// [RunSoak] runs the soak: [SoakParams.Clients] clients (each its own TCP
// connection) for [SoakParams.Duration] against a real nfs-ganesha, which is
// restarted every [SoakParams.RestartEvery], through the proxy as a child
// process with a cache far smaller than the data set (so it culls all the
// time): stamped reads of shared files, writes of each client's own file
// read back, stats, listings and create/write/remove of scratch files.
// Transient failures (JUKEBOX, lost connections) are retried and counted;
// wrong data fails the soak at once. At the end every file is checked
// through the proxy and on ganesha's disk. The proxy's RSS and open
// descriptors (/proc) and goroutines (go_goroutines) are sampled every
// [SoakParams.SampleEvery]; goroutines or descriptors whose median in the
// second half of the run exceeds the first half's by more than a tolerance
// fail the soak.
//
// # Errors
//
// The first failure of any worker stops the run (the others finish the op in
// hand) and is returned wrapped with the workload's name; NFS status errors
// wrap [nfs3.Stat]. Results of the workloads that completed are returned with
// the error.
//
// # Concurrency
//
// [Run] owns its workers and its progress goroutine and waits for them before
// returning; [RunMatrix] owns ganesha, the relays and the proxy process and
// stops them (the proxy by PID) before returning; so does [RunSoak] with
// ganesha, the proxy, its clients, its sampler and its restarter. Nothing
// here is safe for concurrent use unless stated, and nothing is cached.
//
// It must not be linked into the production binary (it imports
// integration/harness for the matrix and the soak). Locks: soak samples
// under sampler.mu and the walkers' dirQueue.mu, each a leaf.
package bench
