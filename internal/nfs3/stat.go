package nfs3

import "strconv"

// Stat is nfsstat3, the status of an NFSv3 reply. It implements error so a
// status can be returned as a Go error and recovered with errors.As at the
// protocol edge; StatOK should not be used as an error.
type Stat uint32

// nfsstat3 values.
const (
	StatOK          Stat = 0     // NFS3_OK
	StatPerm        Stat = 1     // NFS3ERR_PERM
	StatNoEnt       Stat = 2     // NFS3ERR_NOENT
	StatIO          Stat = 5     // NFS3ERR_IO
	StatNXIO        Stat = 6     // NFS3ERR_NXIO
	StatAcces       Stat = 13    // NFS3ERR_ACCES
	StatExist       Stat = 17    // NFS3ERR_EXIST
	StatXDev        Stat = 18    // NFS3ERR_XDEV
	StatNoDev       Stat = 19    // NFS3ERR_NODEV
	StatNotDir      Stat = 20    // NFS3ERR_NOTDIR
	StatIsDir       Stat = 21    // NFS3ERR_ISDIR
	StatInval       Stat = 22    // NFS3ERR_INVAL
	StatFBig        Stat = 27    // NFS3ERR_FBIG
	StatNoSpc       Stat = 28    // NFS3ERR_NOSPC
	StatROFS        Stat = 30    // NFS3ERR_ROFS
	StatMLink       Stat = 31    // NFS3ERR_MLINK
	StatNameTooLong Stat = 63    // NFS3ERR_NAMETOOLONG
	StatNotEmpty    Stat = 66    // NFS3ERR_NOTEMPTY
	StatDQuot       Stat = 69    // NFS3ERR_DQUOT
	StatStale       Stat = 70    // NFS3ERR_STALE
	StatRemote      Stat = 71    // NFS3ERR_REMOTE
	StatBadHandle   Stat = 10001 // NFS3ERR_BADHANDLE
	StatNotSync     Stat = 10002 // NFS3ERR_NOT_SYNC
	StatBadCookie   Stat = 10003 // NFS3ERR_BAD_COOKIE
	StatNotSupp     Stat = 10004 // NFS3ERR_NOTSUPP
	StatTooSmall    Stat = 10005 // NFS3ERR_TOOSMALL
	StatServerFault Stat = 10006 // NFS3ERR_SERVERFAULT
	StatBadType     Stat = 10007 // NFS3ERR_BADTYPE
	StatJukebox     Stat = 10008 // NFS3ERR_JUKEBOX
)

// String returns the RFC name ("NFS3ERR_NOENT"), or "NFS3ERR_UNKNOWN(n)".
func (s Stat) String() string {
	switch s {
	case StatOK:
		return "NFS3_OK"
	case StatPerm:
		return "NFS3ERR_PERM"
	case StatNoEnt:
		return "NFS3ERR_NOENT"
	case StatIO:
		return "NFS3ERR_IO"
	case StatNXIO:
		return "NFS3ERR_NXIO"
	case StatAcces:
		return "NFS3ERR_ACCES"
	case StatExist:
		return "NFS3ERR_EXIST"
	case StatXDev:
		return "NFS3ERR_XDEV"
	case StatNoDev:
		return "NFS3ERR_NODEV"
	case StatNotDir:
		return "NFS3ERR_NOTDIR"
	case StatIsDir:
		return "NFS3ERR_ISDIR"
	case StatInval:
		return "NFS3ERR_INVAL"
	case StatFBig:
		return "NFS3ERR_FBIG"
	case StatNoSpc:
		return "NFS3ERR_NOSPC"
	case StatROFS:
		return "NFS3ERR_ROFS"
	case StatMLink:
		return "NFS3ERR_MLINK"
	case StatNameTooLong:
		return "NFS3ERR_NAMETOOLONG"
	case StatNotEmpty:
		return "NFS3ERR_NOTEMPTY"
	case StatDQuot:
		return "NFS3ERR_DQUOT"
	case StatStale:
		return "NFS3ERR_STALE"
	case StatRemote:
		return "NFS3ERR_REMOTE"
	case StatBadHandle:
		return "NFS3ERR_BADHANDLE"
	case StatNotSync:
		return "NFS3ERR_NOT_SYNC"
	case StatBadCookie:
		return "NFS3ERR_BAD_COOKIE"
	case StatNotSupp:
		return "NFS3ERR_NOTSUPP"
	case StatTooSmall:
		return "NFS3ERR_TOOSMALL"
	case StatServerFault:
		return "NFS3ERR_SERVERFAULT"
	case StatBadType:
		return "NFS3ERR_BADTYPE"
	case StatJukebox:
		return "NFS3ERR_JUKEBOX"
	}
	return "NFS3ERR_UNKNOWN(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// Error returns the same text as String.
func (s Stat) Error() string { return s.String() }

// MountStat is mountstat3, the status of a MOUNT v3 MNT reply. Like Stat it
// implements error.
type MountStat uint32

// mountstat3 values.
const (
	MountOK             MountStat = 0     // MNT3_OK
	MountErrPerm        MountStat = 1     // MNT3ERR_PERM
	MountErrNoEnt       MountStat = 2     // MNT3ERR_NOENT
	MountErrIO          MountStat = 5     // MNT3ERR_IO
	MountErrAcces       MountStat = 13    // MNT3ERR_ACCES
	MountErrNotDir      MountStat = 20    // MNT3ERR_NOTDIR
	MountErrInval       MountStat = 22    // MNT3ERR_INVAL
	MountErrNameTooLong MountStat = 63    // MNT3ERR_NAMETOOLONG
	MountErrNotSupp     MountStat = 10004 // MNT3ERR_NOTSUPP
	MountErrServerFault MountStat = 10006 // MNT3ERR_SERVERFAULT
)

// String returns the RFC name ("MNT3ERR_NOENT"), or "MNT3ERR_UNKNOWN(n)".
func (s MountStat) String() string {
	switch s {
	case MountOK:
		return "MNT3_OK"
	case MountErrPerm:
		return "MNT3ERR_PERM"
	case MountErrNoEnt:
		return "MNT3ERR_NOENT"
	case MountErrIO:
		return "MNT3ERR_IO"
	case MountErrAcces:
		return "MNT3ERR_ACCES"
	case MountErrNotDir:
		return "MNT3ERR_NOTDIR"
	case MountErrInval:
		return "MNT3ERR_INVAL"
	case MountErrNameTooLong:
		return "MNT3ERR_NAMETOOLONG"
	case MountErrNotSupp:
		return "MNT3ERR_NOTSUPP"
	case MountErrServerFault:
		return "MNT3ERR_SERVERFAULT"
	}
	return "MNT3ERR_UNKNOWN(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// Error returns the same text as String.
func (s MountStat) Error() string { return s.String() }
