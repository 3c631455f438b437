// Package version is the one rule that decides whether cached attributes
// or data are still the upstream's current version of a file.
//
// A version is (fileid, size, mtime, ctime), as the upstream reports it
// in fattr3 (Of) or, without the fileid, in WCC pre-operation attributes
// (Pre). Two versions are the same when all four fields are equal (Same);
// any difference, in either direction, is a change. The only change the
// proxy may apply to what it holds instead of dropping it is its own
// WRITE: Written says whether a reply's attributes can be explained by
// that write alone.
//
// It is a leaf shared by coherency (attributes, names, listings, WCC,
// write tracking) and cache (the data cache's records, fills, WroteAt),
// so that neither imports the other. It holds no state and no locks, and
// must not grow any: policy (TTLs, modes, serve-stale) stays in coherency.
package version
