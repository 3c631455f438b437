// Package cache is nfscacheproxy's persistent, self-checking on-disk data
// cache, modelled on Linux cachefiles. It knows nothing about RPC: the
// proxy calls ReadAt with the upstream's coherency data and a Fetcher,
// and WroteAt / Invalidate when it learns that a file changed.
//
// # Model
//
// Objects are keyed by volume and upstream file handle:
//
//	<Dir>/lock                                 flock + PID of the owner
//	<Dir>/cache/I<volume key>/@<xx>/<hex fh>   data file: byte x = upstream byte x
//	<Dir>/cache/I<volume key>/@<xx>/<hex fh>.rec  sidecar record (when needed)
//	<Dir>/graveyard/                           dead inodes awaiting the reaper
//
// The volume key is identity only (server, export, id), %-escaped so it
// never contains '/'. The handle is hex (never '/', '.', '..'; at most
// 240 bytes); @xx is one byte of its CRC32C, fanning objects over 256
// directories. Files are created 0600, directories 0700.
//
// Each data file has a record (record.go): format version, handle,
// coherency data (fileid, size, mtime, ctime), granule size, a content
// map of present granules and a CRC32C per present granule, itself
// CRC-protected. It lives in the user.nfscacheproxy xattr, or in the
// sidecar (temp + fsync + rename) where xattrs are unsupported or too
// small. Presence is never inferred from the file (no SEEK_HOLE).
//
// Nobody waits for a disk flush. A granule fetched from the upstream is
// copied to the readers waiting for it the moment it arrives, then
// written to the data file by a bounded pool of background stores (a
// full pool makes the writer do it itself: backpressure, never unbounded
// memory) and entered in the in-memory map. The record follows, written
// by one flusher goroutine, which first fdatasyncs the data file once
// for every granule entered since its last record, so a durable record
// never claims bytes that were not made durable; if that sync fails,
// those granules are dropped and fetched again. WroteAt follows the same
// rule. The flusher lets records gather for Options.FlushDelay (1s)
// before it writes them: an object dropped meanwhile (a file written and
// removed through the proxy) costs no fdatasync, and a filling file one
// per window. After a crash the map may under-report, never
// over-report, and any byte that still disagrees with its CRC (torn
// write, truncation, a disk that lied about a flush, bit rot) is a miss:
// dropped, counted and fetched again.
//
// Readahead (readahead.go) follows sequential streams per object, also
// when a client's concurrent READs arrive out of order, issuing them
// before the read that revealed them is served; its window grows from 4
// granules to Options.Readahead while the prefetch slots keep up and
// shrinks when they do not. A random read ends the stream.
//
// A reader that wants a small part (at most half) of a missing granule
// does not wait for the whole granule either: the granule is fetched by
// a background flight and the reader's own bytes by a fetch of their own
// alongside it. A granule is checked
// before it is served; one already checked (or written by this process)
// since its object was opened is served, whole or in part, without
// re-checking unless Options.Paranoid is set: what a crash tore or a
// restart left doubtful is checked on its first read after the open.
// Such bytes can also be handed out as a Span (span.go, ReadSpan): the
// file's descriptor and range, for the proxy to sendfile to the client,
// holding the object open until released.
//
// Coherency: an object serves only requests whose Coherency is its
// record's version (version.Same, the one rule shared with coherency; see
// internal/version). Whether fetched bytes are that version is the
// Fetcher's to say: when the file changed under a fetch, its error is a
// Changed, and the fetch's bytes (the new version's) go to the readers of
// its flight with that error and are stored nowhere; a read that already
// has bytes of the version it asked for ends short before them. Anything
// else replaces it: a new inode made with O_TMPFILE, carrying an empty
// record, is linked beside the old name and swapped with it
// (RENAME_EXCHANGE); reads in flight finish on the old inode, which goes
// to the graveyard and is deleted by the reaper. Invalidate, which knows
// no new version, only moves the old file to the graveyard (forget). WroteAt keeps
// the object when the WCC pre-op attributes equal the record, patching
// the granules it has; for a file not cached yet it creates one only when
// the file was empty before the write (a new file written through the
// proxy is then read back from the cache).
//
// # Errors
//
// Cache trouble never reaches the caller. An I/O error, ENOSPC, a missing
// directory (recreated on next use), a bad record or a bad checksum
// degrades that request to pass-through: it is counted in Stats (reads
// also per volume, in VolumeStats) and
// logged (at most once a second), and ReadAt returns only the Fetcher's
// errors. Handles longer than MaxHandleLen are never cached. Open, Close, CullTo, Check and ReadStats return errors wrapped
// as "cache: <op> ...: %w" around the sentinels in errors.go.
//
// # Concurrency
//
// The Store is safe for concurrent use. Its mutex guards the table of
// open objects (reference counts, states, idle LRU); each object's mutex
// guards its record, content map, flights and readahead state; each
// object's wmu serialises writes of granule data to its file. Lock order:
// Store.closeMu (shared by requests), object.wmu, Store.mu, object.mu;
// the index and flush queue locks are leaves. No lock is held across disk
// I/O or a fetch, except wmu across the granule write it guards (only
// writers of the same object wait on it). Upstream
// fetches are single-flight per (volume, handle, granule), and the flight
// stays joinable until its granule is stored.
//
// Every goroutine belongs to the Store and stops at Close: the startup
// walk that builds the cull index, the culler, the graveyard reaper, the
// record flusher, and bounded pools of readahead fetches (at most
// max(2×Readahead, 64) in flight, one granule buffer each: 32 MiB with
// the defaults) and background stores (8).
//
// # What it caches
//
// File data only, in granules (default 256 KiB) aligned to multiples of
// the granule size. Culling is LRU by last use (kept in memory, written
// back as the file's atime) under cachefilesd-style free block and file
// limits plus an absolute byte cap; objects in use are never culled.
//
// Its two LRUs are not coherency's sharded LRU, for real reasons: the idle
// list of open objects is intrusive (prev/next in the object), unsharded
// and under Store.mu because an object's state machine (opening, live,
// closing, culling) and reference count are under that lock too, and its
// eviction closes a file and writes a record; the cull index is not a list
// at all but last-use timestamps (atomics, updated on the read path without
// a lock, persisted as atime, so that order survives a restart) from which
// culling picks the oldest in bounded batches. Neither bounds entries by
// count, as coherency's does: the cull index holds every object on disk,
// 94–104 bytes each as measured (a 32-byte handle, a 16-byte entry and
// the map's slot), so 1,000,000 objects take about 100 MiB of heap (see
// index.go and BenchmarkScale).
//
// A restart serves at once: Open reads nothing, an object is opened by the
// path its key names whether or not the walk has indexed it, and the walk
// then leaves the entry that open made alone. Until the walk ends nothing is
// culled (LRU order and BytesUsed are partial) and MaxBytes counts only
// what is indexed so far; the statfs stop limits are watched throughout.
// Attributes, names and directory listings belong to package coherency.
//
// It must not call the upstream except through the Fetcher it is given,
// nor decide anything about attributes, names or listings.
package cache
