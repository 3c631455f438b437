// Command nfscacheproxy is an NFSv3 caching proxy. It reads flags,
// environment and configuration (package config), wires the packages
// together and runs one of its subcommands; the logic lives in the
// packages. It links no test tooling: the benchmark and soak drivers are
// cmd/nfscacheproxy-bench (deps_test.go keeps it so).
//
// Files: main.go the command tree and exit codes, serve.go and app.go the
// proxy's wiring and life cycle, admin.go the admin API (unix socket,
// optional TCP with a token; never the metrics listener), observe.go the
// metrics, nlm.go the lock manager's wiring, cachecmd.go the cache
// commands, demo.go, health.go, version.go.
//
// The command line is spf13/cobra: flags go anywhere (before or after
// positional arguments), -h/--help works on every command and exits 0,
// `completion` writes shell completion scripts. Exit codes: 0 success,
// 1 failure, 2 usage error (unknown command or flag, bad arguments),
// 3 `cache check` found problems it did not repair.
//
// It must not hold protocol, cache, coherency or walking logic: what it
// builds comes from config, proxy, upstream, cache, coherency, nlm,
// portmap, metrics and warm (cache warm). It must not link testing or
// anything under integration/. Locks: none of its own; the app's serving
// flag is an atomic, and reload runs on the signal goroutine only.
package main
