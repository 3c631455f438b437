package nfs3

import (
	"errors"
	"fmt"
	"testing"
)

func TestStat(t *testing.T) {
	tests := []struct {
		s    Stat
		num  uint32
		name string
	}{
		{StatOK, 0, "NFS3_OK"},
		{StatPerm, 1, "NFS3ERR_PERM"},
		{StatNoEnt, 2, "NFS3ERR_NOENT"},
		{StatIO, 5, "NFS3ERR_IO"},
		{StatNXIO, 6, "NFS3ERR_NXIO"},
		{StatAcces, 13, "NFS3ERR_ACCES"},
		{StatExist, 17, "NFS3ERR_EXIST"},
		{StatXDev, 18, "NFS3ERR_XDEV"},
		{StatNoDev, 19, "NFS3ERR_NODEV"},
		{StatNotDir, 20, "NFS3ERR_NOTDIR"},
		{StatIsDir, 21, "NFS3ERR_ISDIR"},
		{StatInval, 22, "NFS3ERR_INVAL"},
		{StatFBig, 27, "NFS3ERR_FBIG"},
		{StatNoSpc, 28, "NFS3ERR_NOSPC"},
		{StatROFS, 30, "NFS3ERR_ROFS"},
		{StatMLink, 31, "NFS3ERR_MLINK"},
		{StatNameTooLong, 63, "NFS3ERR_NAMETOOLONG"},
		{StatNotEmpty, 66, "NFS3ERR_NOTEMPTY"},
		{StatDQuot, 69, "NFS3ERR_DQUOT"},
		{StatStale, 70, "NFS3ERR_STALE"},
		{StatRemote, 71, "NFS3ERR_REMOTE"},
		{StatBadHandle, 10001, "NFS3ERR_BADHANDLE"},
		{StatNotSync, 10002, "NFS3ERR_NOT_SYNC"},
		{StatBadCookie, 10003, "NFS3ERR_BAD_COOKIE"},
		{StatNotSupp, 10004, "NFS3ERR_NOTSUPP"},
		{StatTooSmall, 10005, "NFS3ERR_TOOSMALL"},
		{StatServerFault, 10006, "NFS3ERR_SERVERFAULT"},
		{StatBadType, 10007, "NFS3ERR_BADTYPE"},
		{StatJukebox, 10008, "NFS3ERR_JUKEBOX"},
		{Stat(12345), 12345, "NFS3ERR_UNKNOWN(12345)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if uint32(tt.s) != tt.num {
				t.Errorf("value: got %d; want %d", uint32(tt.s), tt.num)
			}
			if got := tt.s.String(); got != tt.name {
				t.Errorf("String: got %q; want %q", got, tt.name)
			}
			if got := tt.s.Error(); got != tt.name {
				t.Errorf("Error: got %q; want %q", got, tt.name)
			}
		})
	}
}

func TestStatAsError(t *testing.T) {
	err := fmt.Errorf("upstream: lookup: %w", StatNoEnt)
	var s Stat
	if !errors.As(err, &s) {
		t.Fatalf("errors.As: got false; want true")
	}
	if s != StatNoEnt {
		t.Errorf("errors.As: got %v; want %v", s, StatNoEnt)
	}
	if !errors.Is(err, StatNoEnt) {
		t.Errorf("errors.Is(err, StatNoEnt): got false; want true")
	}
	if errors.Is(err, StatStale) {
		t.Errorf("errors.Is(err, StatStale): got true; want false")
	}
}

func TestMountStat(t *testing.T) {
	tests := []struct {
		s    MountStat
		num  uint32
		name string
	}{
		{MountOK, 0, "MNT3_OK"},
		{MountErrPerm, 1, "MNT3ERR_PERM"},
		{MountErrNoEnt, 2, "MNT3ERR_NOENT"},
		{MountErrIO, 5, "MNT3ERR_IO"},
		{MountErrAcces, 13, "MNT3ERR_ACCES"},
		{MountErrNotDir, 20, "MNT3ERR_NOTDIR"},
		{MountErrInval, 22, "MNT3ERR_INVAL"},
		{MountErrNameTooLong, 63, "MNT3ERR_NAMETOOLONG"},
		{MountErrNotSupp, 10004, "MNT3ERR_NOTSUPP"},
		{MountErrServerFault, 10006, "MNT3ERR_SERVERFAULT"},
		{MountStat(7), 7, "MNT3ERR_UNKNOWN(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if uint32(tt.s) != tt.num {
				t.Errorf("value: got %d; want %d", uint32(tt.s), tt.num)
			}
			if got := tt.s.String(); got != tt.name {
				t.Errorf("String: got %q; want %q", got, tt.name)
			}
			var err error = tt.s
			if got := err.Error(); got != tt.name {
				t.Errorf("Error: got %q; want %q", got, tt.name)
			}
		})
	}
}

func TestProcName(t *testing.T) {
	tests := []struct {
		p    uint32
		want string
	}{
		{ProcNull, "NULL"}, {ProcGetattr, "GETATTR"}, {ProcSetattr, "SETATTR"},
		{ProcLookup, "LOOKUP"}, {ProcAccess, "ACCESS"}, {ProcReadlink, "READLINK"},
		{ProcRead, "READ"}, {ProcWrite, "WRITE"}, {ProcCreate, "CREATE"},
		{ProcMkdir, "MKDIR"}, {ProcSymlink, "SYMLINK"}, {ProcMknod, "MKNOD"},
		{ProcRemove, "REMOVE"}, {ProcRmdir, "RMDIR"}, {ProcRename, "RENAME"},
		{ProcLink, "LINK"}, {ProcReaddir, "READDIR"}, {ProcReaddirplus, "READDIRPLUS"},
		{ProcFsstat, "FSSTAT"}, {ProcFsinfo, "FSINFO"}, {ProcPathconf, "PATHCONF"},
		{ProcCommit, "COMMIT"}, {22, "PROC(22)"},
	}
	for i, tt := range tests {
		if i < 22 && tt.p != uint32(i) {
			t.Errorf("%s: got number %d; want %d", tt.want, tt.p, i)
		}
		if got := ProcName(tt.p); got != tt.want {
			t.Errorf("ProcName(%d): got %q; want %q", tt.p, got, tt.want)
		}
	}
	mtests := []struct {
		p    uint32
		num  uint32
		want string
	}{
		{MountProcNull, 0, "NULL"}, {MountProcMnt, 1, "MNT"}, {MountProcDump, 2, "DUMP"},
		{MountProcUmnt, 3, "UMNT"}, {MountProcUmntall, 4, "UMNTALL"}, {MountProcExport, 5, "EXPORT"},
		{6, 6, "PROC(6)"},
	}
	for _, tt := range mtests {
		if tt.p != tt.num {
			t.Errorf("%s: got number %d; want %d", tt.want, tt.p, tt.num)
		}
		if got := MountProcName(tt.p); got != tt.want {
			t.Errorf("MountProcName(%d): got %q; want %q", tt.p, got, tt.want)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{TypeReg.String(), "NF3REG"}, {TypeDir.String(), "NF3DIR"}, {TypeBlk.String(), "NF3BLK"},
		{TypeChr.String(), "NF3CHR"}, {TypeLnk.String(), "NF3LNK"}, {TypeSock.String(), "NF3SOCK"},
		{TypeFIFO.String(), "NF3FIFO"}, {FType(0).String(), "FTYPE(0)"}, {FType(8).String(), "FTYPE(8)"},
		{Unstable.String(), "UNSTABLE"}, {DataSync.String(), "DATA_SYNC"}, {FileSync.String(), "FILE_SYNC"},
		{StableHow(3).String(), "STABLE(3)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
}

// TestConstants pins protocol numbers to RFC 1813.
func TestConstants(t *testing.T) {
	tests := []struct {
		name      string
		got, want uint64
	}{
		{"Program", Program, 100003}, {"Version", Version, 3},
		{"MountProgram", MountProgram, 100005}, {"MountVersion", MountVersion, 3},
		{"FHSize", FHSize, 64}, {"MaxName", MaxName, 255}, {"MaxNameDecode", MaxNameDecode, 4096},
		{"MaxSymlinkPath", MaxSymlinkPath, 4096}, {"MountPathLen", MountPathLen, 1024}, {"MaxPathDecode", MaxPathDecode, 64 << 10},
		{"TypeReg", uint64(TypeReg), 1}, {"TypeFIFO", uint64(TypeFIFO), 7},
		{"FileSync", uint64(FileSync), 2}, {"CreateExclusive", uint64(CreateExclusive), 2},
		{"SetToClientTime", uint64(SetToClientTime), 2},
		{"AccessRead", uint64(AccessRead), 1}, {"AccessLookup", uint64(AccessLookup), 2},
		{"AccessModify", uint64(AccessModify), 4}, {"AccessExtend", uint64(AccessExtend), 8},
		{"AccessDelete", uint64(AccessDelete), 16}, {"AccessExecute", uint64(AccessExecute), 32},
		{"FSFLink", uint64(FSFLink), 1}, {"FSFSymlink", uint64(FSFSymlink), 2},
		{"FSFHomogeneous", uint64(FSFHomogeneous), 8}, {"FSFCanSetTime", uint64(FSFCanSetTime), 16},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d; want %d", tt.name, tt.got, tt.want)
		}
	}
}
