// Package proxy is the NFSv3 and MOUNT v3 front end that clients mount: ONC
// RPC over TCP (RFC 5531), the 22 NFSv3 procedures and the MOUNT protocol
// (RFC 1813), file handle wrapping and export policy.
//
// Model: the proxy is handle-native. A client's file handle is the upstream
// handle with a 4-byte prefix naming its volume (handle.go); every procedure
// strips the prefix, forwards the call by handle with the caller's own
// AUTH_SYS credential to the volume's Upstream, adds the prefix to every
// handle in the result, and returns attributes and WCC data exactly as the
// upstream sent them. The only field the proxy changes is FSINFO's transfer
// sizes, which it caps at what it can carry.
//
// Cache upkeep: after every state-changing procedure the handler describes
// what happened in a coherency.Change, and volume.afterChange (change.go)
// applies coherency's rule for it (Cache.AfterChange, one table for all of
// them) and its effect on the data cache; the handlers hold no upkeep of
// their own.
//
// Errors: a request that cannot be parsed gets the RPC-level reply the
// protocol names (PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS,
// AUTH_ERROR, RPC_MISMATCH); an unusable handle is NFS3ERR_BADHANDLE; a
// failure to reach the upstream is NFS3ERR_JUKEBOX when it is transient and
// NFS3ERR_IO otherwise (errors.go is the one place that maps them). A record
// over the size limit, or one that cannot even be framed, closes the
// connection. A panic in a handler is recovered, logged and answered with
// SYSTEM_ERR.
//
// Names: every name argument is checked in one place (names.go) before the
// handle is resolved, so a refused name reaches neither the upstream nor the
// caches. The upstream must never see a name that could leave the export:
// nfs-ganesha resolves a LOOKUP name like "../../etc" as a path. The
// answers follow knfsd (fs/nfsd/nfs3xdr.c svcxdr_decode_filename3; vfs.c
// nfsd_create, nfsd_symlink, nfsd_link, nfsd_unlink, nfsd_rename;
// nfs3proc.c nfsd3_proc_symlink) except where RFC 1813 names a status
// knfsd does not use:
//
//	name                          proxy             knfsd
//	contains "/" or NUL, empty    GARBAGE_ARGS      GARBAGE_ARGS (decode)
//	over 255 bytes                NAMETOOLONG       GARBAGE_ARGS (decode)
//	"." or ".." in LOOKUP         allowed           allowed
//	".." in LOOKUP of a root      the root itself   the root itself
//	"."/".." CREATE MKDIR SYMLINK
//	         MKNOD, LINK's name   NFS3ERR_EXIST     NFS3ERR_EXIST
//	"."/".." REMOVE, RMDIR        NFS3ERR_ACCES     NFS3ERR_ACCES
//	"."/".." RENAME, either name  NFS3ERR_PERM      NFS3ERR_PERM
//	SYMLINK target over 4096      NAMETOOLONG       NAMETOOLONG
//	SYMLINK target empty, or NUL  NFS3ERR_INVAL     NFS3ERR_INVAL
//	MNT dirpath over 1024         MNT3ERR_NAMETOOLONG  GARBAGE_ARGS (mountd)
//	MNT dirpath relative, with
//	  NUL, "." or ".." components MNT3ERR_ACCES     (mountd: realpath, then
//	                                                 ACCES if not exported)
//
// A name with "/" or NUL, or an empty one, is not a filename3 a client can
// produce from a path (Linux never sends one), so it is a malformed request,
// not a file system answer: GARBAGE_ARGS, as knfsd, rather than a status
// (ACCES or INVAL) that a client could take for a property of the
// directory and cache. A name over 255 bytes is a real file system limit
// RFC 1813 gives a status for (NFS3ERR_NAMETOOLONG, also nfs-ganesha's
// answer), so it decodes (up to nfs3.MaxNameDecode) and gets that status.
// Every refusal and every GARBAGE_ARGS is counted by reason
// (Server.Rejections) and logged at warn, at most once a second per reason
// (reject.go).
//
// Volumes whose upstream is not mounted yet (Volume.Pending) answer MNT
// with MNT3ERR_SERVERFAULT and NFS calls with JUKEBOX (IO when soft), at
// once, until they are activated: by the server itself when the upstream
// is a Prober (activate.go: wait for Mounted, probe the root's fsid with
// backoff, Activate), else by the caller's Server.Activate.
//
// Concurrency: each connection has a reader goroutine that frames records
// and starts one goroutine per request, bounded per connection and across
// the server (a full bound stops the reader, which pushes back on the
// client); the bytes of records still arriving share one budget
// (partial.go: beyond it the connections holding the most are closed);
// replies go out in completion order under a write lock with a
// write deadline. A Pending volume served later has one goroutine waiting
// for its upstream's mount (activate.go). Server.Close stops the
// listeners, closes connections, cancels the activations and waits for
// every goroutine.
//
// Caching: the handlers consult each volume's metadata cache (volume.meta, a
// *coherency.Cache: attributes, names, listings, ACCESS and READLINK under
// the volume's coherency mode) and its data cache (Volume.Data, the
// DataCache interface of datacache.go over a *cache.Store). Whether a cached
// answer may be given to a caller without asking the upstream is
// coherency.Permits (meta.go mayAccess adds the ACCESS cache and root's one
// upstream ACCESS); whether the upstream is down so that a stale answer may
// be served is request.serveStale (stale.go), the one wrapper of the
// volume's failure policy, which the handlers call with their stale answer.
//
// READ through the data cache (read.go readCached) goes down once:
// the proxy validates the attributes (coherency), fills in the request's
// coherency.Fetcher for that version and calls Volume.Data.ReadAt with it;
// the cache calls the fetcher, never the proxy, for what is missing, one
// upstream READ per missing granule and flight. When that READ's post-op
// attributes show the file changed, the reply carries its bytes with the
// new attributes (coherency.Changed); nothing is read twice and the cache
// stores nothing under the old version. A READ wholly cached and checked,
// whose length needs no XDR padding, on a connection with a descriptor,
// takes a cache.Span instead (Volume.Data.ReadSpan): the reply carries
// only its head, and the connection's writer sends the payload from the
// cache file with sendfile (conn.writeSpan, the head with MSG_MORE), so
// a warm READ's bytes are copied neither into the proxy nor out of it.
// The span holds its object open until written (Options.NoSendfile turns
// this off).
//
// Results: handlers only encode their reply. reply.go finish is the one
// place that turns a handler's result into the reply status (the first
// word of the NFSv3 reply body), the statistics, the latency metric's
// result label, the rejection log and the RPC-level answer to errGarbage
// or errDrop. Transport failures toward the upstream become a status in
// one place too: volume.upstreamStatus and upstreamDown (errors.go).
//
// Locking is served by package nlm; Server.LockFiles (locks.go) gives it
// the handle mapping, the export policy and the grant hook that drops a
// locked file's cached attributes.
//
// It owns the wire protocol, handle wrapping, export policy and the
// request life cycle. It must not decide whether cached state is still
// valid (coherency does, with internal/version), store or read file data
// itself (cache does), or reach the upstream except through
// Volume.Upstream. Lock order: the socket group's mu (Server.grp, an
// internal/rpcsrv Group: listeners, connections and their goroutines,
// shared with portmap), then Server.mu (connection counts, taken inside
// it only to admit a connection). Server.mu, the duplicate-request
// cache's mu, the mount table's mu and a connection's out (reply queue)
// lock are leaves, never held while taking another; none is held across
// an upstream call. The group's mu is held while closing listeners and
// sockets; out is never held across a write: one request at a time is a
// connection's writer (out.writing) and writes what the others queued.
package proxy
