package nfs3

import (
	"strconv"
	"strings"
)

// RPC program and version numbers.
const (
	Program      = 100003 // NFS_PROGRAM
	Version      = 3      // NFS_V3
	MountProgram = 100005 // MOUNT_PROGRAM
	MountVersion = 3      // MOUNT_V3
)

// NFSv3 procedure numbers.
const (
	ProcNull        uint32 = 0
	ProcGetattr     uint32 = 1
	ProcSetattr     uint32 = 2
	ProcLookup      uint32 = 3
	ProcAccess      uint32 = 4
	ProcReadlink    uint32 = 5
	ProcRead        uint32 = 6
	ProcWrite       uint32 = 7
	ProcCreate      uint32 = 8
	ProcMkdir       uint32 = 9
	ProcSymlink     uint32 = 10
	ProcMknod       uint32 = 11
	ProcRemove      uint32 = 12
	ProcRmdir       uint32 = 13
	ProcRename      uint32 = 14
	ProcLink        uint32 = 15
	ProcReaddir     uint32 = 16
	ProcReaddirplus uint32 = 17
	ProcFsstat      uint32 = 18
	ProcFsinfo      uint32 = 19
	ProcPathconf    uint32 = 20
	ProcCommit      uint32 = 21
)

var procNames = [...]string{
	"NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ",
	"WRITE", "CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR",
	"RENAME", "LINK", "READDIR", "READDIRPLUS", "FSSTAT", "FSINFO",
	"PATHCONF", "COMMIT",
}

// ProcName returns the RFC name of NFSv3 procedure p ("GETATTR"), or
// "PROC(n)" for an unknown number.
func ProcName(p uint32) string {
	if p < uint32(len(procNames)) {
		return procNames[p]
	}
	return "PROC(" + strconv.FormatUint(uint64(p), 10) + ")"
}

// MOUNT v3 procedure numbers.
const (
	MountProcNull    uint32 = 0
	MountProcMnt     uint32 = 1
	MountProcDump    uint32 = 2
	MountProcUmnt    uint32 = 3
	MountProcUmntall uint32 = 4
	MountProcExport  uint32 = 5
)

var mountProcNames = [...]string{"NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"}

// MountProcName returns the RFC name of MOUNT v3 procedure p ("MNT"), or
// "PROC(n)" for an unknown number.
func MountProcName(p uint32) string {
	if p < uint32(len(mountProcNames)) {
		return mountProcNames[p]
	}
	return "PROC(" + strconv.FormatUint(uint64(p), 10) + ")"
}

// Size limits. Decoders enforce the hard caps (FHSize, MaxNameDecode,
// MaxPathDecode, MaxData, MaxListLen); the protocol limits a server answers
// with a status (MaxName, MaxSymlinkPath, MountPathLen) are for the server to
// check after decoding, so a name one byte too long gets NFS3ERR_NAMETOOLONG
// rather than GARBAGE_ARGS. Encoders enforce nothing.
const (
	FHSize = 64 // NFS3_FHSIZE, also FHSIZE3: max nfs_fh3 length
	// MaxName is the longest filename3 a server accepts (NAME_MAX, as
	// Linux and nfs-ganesha); longer is NFS3ERR_NAMETOOLONG. Also MNTNAMLEN.
	MaxName = 255
	// MaxNameDecode is the hard cap on a decoded filename3.
	MaxNameDecode = 4096
	// MaxSymlinkPath is the longest symlink target (the nfspath3 of SYMLINK
	// and READLINK), Linux's PATH_MAX. RFC 1813 bounds nfspath3 by nothing;
	// knfsd answers a longer SYMLINK target NFS3ERR_NAMETOOLONG.
	MaxSymlinkPath = 4096
	// MountPathLen is MNTPATHLEN, the longest MOUNT dirpath; longer is
	// MNT3ERR_NAMETOOLONG.
	MountPathLen = 1024
	// MaxPathDecode is the hard cap on a decoded nfspath3 or dirpath.
	MaxPathDecode  = 64 << 10
	CookieVerfSize = 8       // NFS3_COOKIEVERFSIZE
	CreateVerfSize = 8       // NFS3_CREATEVERFSIZE
	WriteVerfSize  = 8       // NFS3_WRITEVERFSIZE
	MaxData        = 4 << 20 // max READ/WRITE payload accepted on decode
	MaxListLen     = 1 << 16 // max elements of a decoded list
	MaxAuthFlavors = 64      // max auth_flavors in a decoded MNT reply
)

// FType is ftype3, the type of a file.
type FType uint32

// ftype3 values.
const (
	TypeReg  FType = 1 // NF3REG
	TypeDir  FType = 2 // NF3DIR
	TypeBlk  FType = 3 // NF3BLK
	TypeChr  FType = 4 // NF3CHR
	TypeLnk  FType = 5 // NF3LNK
	TypeSock FType = 6 // NF3SOCK
	TypeFIFO FType = 7 // NF3FIFO
)

var ftypeNames = [...]string{"", "NF3REG", "NF3DIR", "NF3BLK", "NF3CHR", "NF3LNK", "NF3SOCK", "NF3FIFO"}

// String returns the RFC name ("NF3REG"), or "FTYPE(n)" if t is out of range.
func (t FType) String() string {
	if t >= TypeReg && t <= TypeFIFO {
		return ftypeNames[t]
	}
	return "FTYPE(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// StableHow is stable_how, the durability asked of and promised by WRITE.
type StableHow uint32

// stable_how values.
const (
	Unstable StableHow = 0 // UNSTABLE
	DataSync StableHow = 1 // DATA_SYNC
	FileSync StableHow = 2 // FILE_SYNC
)

var stableNames = [...]string{"UNSTABLE", "DATA_SYNC", "FILE_SYNC"}

// String returns the RFC name ("FILE_SYNC"), or "STABLE(n)" if out of range.
func (s StableHow) String() string {
	if s <= FileSync {
		return stableNames[s]
	}
	return "STABLE(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// createmode3 values (CreateArgs.Mode).
const (
	CreateUnchecked uint32 = 0 // UNCHECKED
	CreateGuarded   uint32 = 1 // GUARDED
	CreateExclusive uint32 = 2 // EXCLUSIVE
)

// time_how values (SetTime.How).
const (
	DontChange      uint32 = 0 // DONT_CHANGE
	SetToServerTime uint32 = 1 // SET_TO_SERVER_TIME
	SetToClientTime uint32 = 2 // SET_TO_CLIENT_TIME
)

// ACCESS permission bits (AccessArgs.Access, AccessRes.Access).
const (
	AccessRead    uint32 = 0x0001 // ACCESS3_READ
	AccessLookup  uint32 = 0x0002 // ACCESS3_LOOKUP
	AccessModify  uint32 = 0x0004 // ACCESS3_MODIFY
	AccessExtend  uint32 = 0x0008 // ACCESS3_EXTEND
	AccessDelete  uint32 = 0x0010 // ACCESS3_DELETE
	AccessExecute uint32 = 0x0020 // ACCESS3_EXECUTE
)

// FSINFO property bits (FsinfoRes.Properties).
const (
	FSFLink        uint32 = 0x0001 // FSF3_LINK
	FSFSymlink     uint32 = 0x0002 // FSF3_SYMLINK
	FSFHomogeneous uint32 = 0x0008 // FSF3_HOMOGENEOUS
	FSFCanSetTime  uint32 = 0x0010 // FSF3_CANSETTIME
)

// Lower-case procedure names, computed once, for metric labels.
var procLabels, mountProcLabels = lowerAll(procNames[:]), lowerAll(mountProcNames[:])

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// ProcLabel is ProcName in lower case ("getattr"), without allocating for
// a known procedure: the label metrics use.
func ProcLabel(p uint32) string {
	if p < uint32(len(procLabels)) {
		return procLabels[p]
	}
	return strings.ToLower(ProcName(p))
}

// MountProcLabel is MountProcName in lower case ("mnt").
func MountProcLabel(p uint32) string {
	if p < uint32(len(mountProcLabels)) {
		return mountProcLabels[p]
	}
	return strings.ToLower(MountProcName(p))
}
