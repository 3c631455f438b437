// Package coherency holds nfscacheproxy's in-memory metadata caches for one
// volume and the rules that say whether what they hold is still valid:
// attributes, LOOKUP results (positive and negative), READDIR and
// READDIRPLUS pages, ACCESS results and READLINK targets. It does no I/O:
// the proxy asks it before going upstream and feeds it every attribute,
// WCC record, name and listing the upstream returns.
//
// # Model
//
// An object's version is its (fileid, type, size, mtime, ctime). Whether
// two are the same version is decided by one rule, internal/version
// (version.Same: fileid, size, mtime and ctime all equal; any difference,
// either way, is a change), used here (sameVersion, wccMatches, and
// writeFits through version.Written for the stand-in of a WRITE without
// pre-op attributes), by the data cache (cache.Coherency is
// version.Version: its records, fills, acquireFor, WroteAt through
// version.Extends) and by the data cache's fetcher (Fetcher, fetch.go). The
// object's type is compared here too; an object never changes it. Cached
// attributes are fresh for a TTL that adapts like the Linux client's
// attribute cache: it starts at AcRegMin (AcDirMin for directories),
// doubles up to AcRegMax (AcDirMax) each time a revalidation at least one
// TTL after the last adjustment finds the version unchanged, and falls back
// to the minimum when the version changed. ModeCTO behaves like ModeTTL but
// tells the proxy to forward every client GETATTR (ForwardGetattr), so
// close-to-open holds end to end; ModeStatic never expires anything.
//
// Everything else depends on its object's attributes: it is served only
// while they are cached and fresh, and only while the object has not
// changed since it was stored. Each cached object carries two generation
// numbers taken from one counter: gen (for names in a directory) and lgen
// (for listings of a directory). A version change seen by PutAttr, a WCC
// record showing somebody else's change, an eviction or an invalidation
// gives the object new generations, which makes every name and page stored
// under the old ones invalid at once; stale entries are dropped lazily when
// met, or by LRU eviction. ACCESS results and READLINK targets live in the
// object itself and are dropped eagerly. A name or page is stored under its
// directory's generation only while the cached attributes are the version
// the reply carried (PutLookup, PutReaddirplus, PutReaddir), so a reply
// that raced with a newer one is not stored against the newer version.
//
// WCC data of operations the proxy forwarded itself (ApplyWcc): when the
// pre-operation attributes equal the cached (size, mtime, ctime), nobody
// else touched the object, so its post-operation attributes are adopted and
// its names stay valid (the caller reports the names it changed with
// PutName, PutNegative and ForgetName); a directory's listings are dropped
// because its contents changed. Anything else invalidates the object
// (post-op attributes older by ctime than the cached ones do not replace
// them: the cached ones stay, expired, so replies handled out of order
// never roll the cache back).
//
// A WRITE reply without pre-op attributes (nfs-ganesha sends none):
// BeginWrite and EndWrite let the cached attributes stand in for them,
// as the Linux client does, when they were fresh under the mode when the
// write was sent and are unchanged when its reply arrives, no other WRITE
// to the handle was in flight through the proxy meanwhile (concurrent
// replies may arrive in another order than the upstream applied them),
// and the post-op attributes fit our write alone: same file, size exactly
// max(old size, offset+count), mtime and ctime not earlier. The
// trade-off: another client's overwrite inside the file since the
// attributes were last validated, which leaves the size as our write
// would, is not noticed; in ModeCTO every open revalidates, so only a
// change between two writes of one open is missed, which close-to-open
// does not promise to show either. A client that keeps several WRITEs to
// one file in flight (the Linux client flushing a file) gets no stand-in
// for them: that file's data are dropped as before. See write.go.
//
// # One rule per state-changing procedure
//
// AfterChange (change.go) is the one place that decides what a procedure
// the proxy forwarded refreshes and invalidates; the handlers only fill
// in a Change. "WCC" below is ApplyWcc's ours-or-theirs rule; "gone" means
// the object's attributes, the names known to lead to it (Invalidate) and
// its file data are dropped. On NFS3ERR_STALE the handle the status is
// about (the object of SETATTR, WRITE and COMMIT; the directory of the
// other procedures but RENAME and LINK, whose two handles it does not
// tell apart) is invalidated with its data, and nothing else is done.
//
//	proc          refreshed from the reply                invalidated
//	SETATTR       object: WCC                              data unless OK, ours and no size change (then its record adopts post-op)
//	WRITE         object: WCC (stand-in pre-op, EndWrite)  data unless OK with pre- and post-op (then the bytes are applied);
//	                                                       without pre-op and stand-in: post-op attributes kept only as
//	                                                       expired, never rolled back (replies may be out of order), and data
//	COMMIT        object: WCC, or post-op as revalidation  nothing (a changed version shows in the data's record)
//	CREATE MKDIR  dir: WCC; object: post-op attributes;    name forgotten when no handle came back; object's attributes
//	SYMLINK MKNOD   name -> handle                         when the handle came without them (UNCHECKED may truncate)
//	REMOVE RMDIR  dir: WCC; name: negative (OK, NOENT)     removed object: gone (found by name, else LOOKUP before)
//	RENAME        both dirs: WCC (once if the same);       both names forgotten; replaced object: gone (by name, else LOOKUP
//	              source name: negative unless a no-op      before), or only its attributes if it is the moved file; moved
//	                                                       object's attributes (ctime)
//	LINK          dir: WCC; file: post-op attributes;      file's attributes when the reply has none (link count)
//	              name -> handle
//
// Listings: a directory's WCC drops its listing pages, ours or not. Other
// names of a file whose link count changed stay (they still name the same
// handle); READDIRPLUS pages anywhere serve an entry's attributes only
// from the attribute cache (Readdirplus), so the refreshed or dropped
// attributes reach every listing. The removed or replaced object is found
// before the change: from the name cache, or, when its name is not cached
// (not even as absent), by one LOOKUP upstream — a round trip only then,
// since clients look a name up before removing it; a file id alone would
// not do, as nothing maps file ids to handles.
//
// Invalidate also drops, as far as it knows them, the names in parent
// directories that lead to the object (each object remembers the last few
// names stored for it), so a handle the upstream calls stale is not handed
// out again from the name cache.
//
// # The data cache's fetcher
//
// Fetcher (fetch.go) is what the data cache calls for bytes it lacks. It
// reads with the credential of the client whose READ caused the fetch and
// decides, by version.Same on the READ's post-op attributes, whether the
// bytes are the version the proxy validated. If not, they are still the
// upstream's current bytes: Fetch returns them with a *Changed carrying
// the new attributes (also put in the attribute cache), the data cache
// serves them to that fetch's readers without storing them, and the proxy
// answers with them and those attributes. A READ reply without post-op
// attributes proves nothing (ErrUnproven): the proxy forwards the READ.
//
// # Errors
//
// Only New (naming the bad Options field) and ParseMode (ErrUnknownMode)
// return errors, and Fetcher.Fetch, which returns the upstream's
// (transport errors, an NFS status as nfs3.Stat), ErrUnproven and
// *Changed. Everything else is a cache: a miss is reported as ok=false
// and a Put that cannot be validated (its directory's attributes are not
// cached, the page is too big) stores nothing.
//
// # Concurrency
//
// A Cache is safe for concurrent use. Attribute entries (with their ACCESS
// results and READLINK target) live in up to 16 shards by handle, names in
// up to 16 shards by (directory, name), each with its own mutex and LRU;
// listings share one table under one mutex. No operation holds two of these
// locks at once: the generation numbers let a name or listing lookup read
// its directory's state under one lock and check the entry under another.
// Counters are atomics; Stats takes no locks.
//
// # What it caches, and its bounds
//
// Per volume: up to MaxAttrs objects' attributes (each with up to 8 ACCESS
// results and its symlink target), up to MaxNames names and up to
// MaxListings directories' listing pages totalling at most MaxListingBytes
// (estimated in-memory size). The attribute and name bounds are split evenly
// between shards, so a skewed hash may evict a little before the bound is
// reached. Eviction is LRU, O(1) per operation (an intrusive list per
// shard, lru.go, bounded by entry count). Package cache keeps its own, different ones on
// purpose (an intrusive idle list of open files under its table lock, and
// persisted last-use times sorted when culling; see its doc): sharing one
// generic LRU would fit neither. Handles, names and pages are
// copied on insert; results never alias storage the cache modifies, but the
// FH of a NameEntry is shared and must not be modified by the caller. File
// data is not cached here (package cache does that); PutAttr and ApplyWcc
// tell the caller when it must be dropped.
//
// It must not do I/O of its own: it keeps nothing on disk, and it calls
// the upstream only as the data cache's Fetcher, one READ per Fetch
// through the Reader the proxy gives it (Source), so that the version
// rule for fetched bytes lives here and the data cache never calls back
// into the proxy. Everything else the proxy revalidates and feeds it. A
// Fetcher is one request's (or its readahead's), used by one goroutine
// at a time; its Source is shared and read-only. Lock order: the
// attribute shards' mu, the name shards' mu, the listing table's mu and
// the write table's mu are leaves, never nested.
package coherency
