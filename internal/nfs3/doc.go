// Package nfs3 holds the NFSv3 (RFC 1813) and MOUNT v3 (RFC 1813
// appendix I) wire types: the argument and result of every procedure,
// the shared attribute structures, status codes and protocol constants.
//
// Model: each procedure Xxx has an XxxArgs and an XxxRes type, each with
// Encode(*xdr.Writer) and Decode(*xdr.Reader) error. The proxy's server side
// decodes Args and encodes Res; the upstream client encodes Args and decodes
// Res. NULL has no types. Result structs start with Status and flatten both
// arms of the RFC's discriminated union into one struct: Encode writes, and
// Decode reads, only the arm chosen by Status. Error arms keep their bodies
// (post-op attributes, WCC data) exactly as the RFC defines them, so a
// failing reply loses nothing when it is passed through.
//
// Encoding: Encode never fails and does not validate; it writes what the
// struct holds (a name longer than MaxName is written as is). Fields outside
// the selected union arm (Attr of a PostOpAttr whose Set is false, the
// Time of a SetTime whose How is not SetToClientTime, and so on) are not
// written. Encode allocates nothing beyond growing the Writer's slice.
//
// Decoding: every variable-length field is read with a hard cap (FHSize,
// MaxNameDecode, MaxPathDecode, MaxData) and every linked list is capped at
// MaxListLen elements, so hostile input cannot make the decoder allocate
// without bound. Names and paths are capped above their protocol limits
// (MaxName, MaxSymlinkPath, MountPathLen): those the server checks after
// decoding and answers with a status (NAMETOOLONG), as RFC 1813 asks. Enumerations with a closed range (ftype3, stable_how,
// createmode3, time_how) are checked. Status values are not: any status
// other than OK selects the failure arm. Trailing bytes after a complete
// value are ignored. Decode resets the value first, so a reused struct holds
// nothing stale. Decoding allocates only for strings and list slices.
//
// Aliasing: FH values and the Data of READ and WRITE alias the decoded
// buffer. Callers that keep them beyond the life of that buffer must copy.
//
// Errors: decode errors are the xdr package's sentinels (ErrShort,
// ErrTooLong, ErrBool, ErrEnum) or this package's ones from errors.go, which
// wrap them. The first error is sticky in the Reader and is what Decode
// returns. Stat and MountStat implement error so a status can travel as a
// Go error and be mapped back at the protocol edge with errors.As.
//
// # Limits
//
// The limits the proxy imposes on the wire, what they rest on, and what a
// client gets beyond them. None is tighter than the Linux kernel server's
// (knfsd). Each row has a boundary test at and past the limit, through the
// proxy and directly against nfs-ganesha (integration TestProtocolLimits,
// TestBadNamesRefusedAgainstGanesha; proxy TestUnreadableCredentialAnswered,
// TestRPCErrorReplies, TestMountTableCap).
//
//	limit                       value              source                         beyond it
//	RPC record (request)        MaxIO + 64 KiB     knfsd: 1 MiB payload + header  connection closed (nfscacheproxy_bad_records_total)
//	READ, WRITE size            1 MiB (MaxIO)      knfsd NFSSVC_MAXBLKSIZE; FSINFO READ: short read; WRITE: record limit above
//	READDIR(PLUS) reply         capped by MaxIO    FSINFO dtpref                  fewer entries, not an error
//	filename3                   255 (MaxName)      NAME_MAX (Linux, ganesha)      NFS3ERR_NAMETOOLONG
//	name with "/", NUL, empty   refused            knfsd svcxdr_decode_filename3  GARBAGE_ARGS (as knfsd)
//	symlink target (nfspath3)   4096 (MaxSymlinkPath) PATH_MAX; RFC 1813: unbounded NFS3ERR_NAMETOOLONG
//	READLINK reply path         up to MaxPathDecode decoded from the upstream  (the upstream's own limit)
//	MOUNT dirpath               1024 (MountPathLen) MNTPATHLEN, RFC 1813 app. I   MNT3ERR_NAMETOOLONG
//	nfs_fh3                     64 (FHSize)        NFS3_FHSIZE; upstream <= 60     GARBAGE_ARGS; unknown: NFS3ERR_BADHANDLE
//	opaque_auth body            400                RFC 5531                       AUTH_ERROR AUTH_BADCRED / AUTH_BADVERF
//	AUTH_SYS gids               16                 RFC 5531 (as knfsd)            AUTH_ERROR AUTH_BADCRED
//	AUTH_SYS machine name       255                RFC 5531                       AUTH_ERROR AUTH_BADCRED
//	cookie, create, write verf  8 bytes            RFC 1813 (fixed size)          -
//	decoded list elements       65536 (MaxListLen) own cap against allocation     GARBAGE_ARGS
//	DUMP (mount table)          4096 entries       own cap                        further MNTs not listed
//
// Concurrency: the types are plain values; nothing here is shared or cached.
//
// It owns the NFSv3 and MOUNT v3 types and their XDR; it must not hold
// behaviour beyond encoding, decoding and limits. Locks: none.
package nfs3
