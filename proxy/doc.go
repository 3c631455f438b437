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
// once, until Server.Activate.
//
// Concurrency: each connection has a reader goroutine that frames records
// and starts one goroutine per request, bounded per connection and across
// the server (a full bound stops the reader, which pushes back on the
// client); the bytes of records still arriving share one budget
// (partial.go: beyond it the connections holding the most are closed);
// replies go out in completion order under a write lock with a
// write deadline. Server.Close stops the listeners, closes connections and
// waits for every goroutine.
//
// Caching: none in this package; the data cache and the coherency rules are
// reached through the small interfaces declared in volume.go.
package proxy
