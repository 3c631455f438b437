// Package warm fills a running proxy's cache by reading through it: it
// resolves paths below a volume's root and reads every regular file of a
// tree (READ in 1 MiB calls, directories listed with READDIRPLUS), so the
// proxy's own read path and readahead do the filling.
//
// It owns only the walk. It must not touch the cache directory, hold any
// state beyond one walk's counters, or start goroutines: the caller's
// goroutine does every call, and ctx stops it. It speaks NFSv3 through the
// small Client interface (an *upstream.Client dialled at the proxy in
// production, anything that answers NFSv3 in tests). No locks.
package warm
