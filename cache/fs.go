package cache

import (
	"errors"
	"io/fs"
	"syscall"
)

// FS is the filesystem seam the Store does all of its disk I/O through.
// OSFS is the real one; FaultFS wraps another FS to inject errors and
// simulate crashes in tests. Names are absolute paths. Errors are
// *fs.PathError or bare syscall.Errno values so errors.Is works against
// syscall.ENOENT, syscall.ENOTSUP and friends.
type FS interface {
	// OpenFile opens name with the given open(2) flags.
	OpenFile(name string, flag int, perm uint32) (File, error)
	// CreateTemp makes an unnamed file in dir (O_TMPFILE), mode 0600.
	CreateTemp(dir string) (File, error)
	// Link gives the unnamed file f the name newname; EEXIST if taken.
	Link(f File, newname string) error
	// Rename renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// Exchange atomically swaps two existing names (RENAME_EXCHANGE).
	Exchange(a, b string) error
	// Remove unlinks a file or removes an empty directory.
	Remove(name string) error
	// Mkdir creates one directory.
	Mkdir(name string, perm uint32) error
	// ReadDir lists the names in a directory, unsorted, without . and ..:
	// at most max of them, or all when max <= 0.
	ReadDir(name string, max int) ([]string, error)
	// Lstat describes name without following a final symlink.
	Lstat(name string) (FileInfo, error)
	// Statfs describes the filesystem holding name.
	Statfs(name string) (FSStat, error)
}

// File is an open cache file. ReadAt returns io.EOF with n < len(p) at
// end of file; WriteAt writes all of p or returns an error.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	Stat() (FileInfo, error)
	// GetXattr reads the extended attribute name into dst.
	GetXattr(name string, dst []byte) (int, error)
	// SetXattr replaces the extended attribute name.
	SetXattr(name string, val []byte) error
	// SetAtime sets the access time (Unix nanoseconds), leaving mtime.
	SetAtime(ns int64) error
	Close() error
}

// FileInfo is the part of stat(2) the cache uses.
type FileInfo struct {
	Size   int64 // bytes
	Blocks int64 // bytes allocated on disk
	Ino    uint64
	Atime  int64 // Unix nanoseconds
	Mtime  int64 // Unix nanoseconds
	IsDir  bool
}

// FSStat is the part of statfs(2) the culler uses.
type FSStat struct {
	Blocks, BlocksAvail uint64
	Files, FilesFree    uint64
}

// Percentages of free blocks and free files; 100 when the filesystem
// does not report a total.
func (st FSStat) freePercents() (blocks, files int) {
	blocks, files = 100, 100
	if st.Blocks > 0 {
		blocks = int(st.BlocksAvail * 100 / st.Blocks)
	}
	if st.Files > 0 {
		files = int(st.FilesFree * 100 / st.Files)
	}
	return blocks, files
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isXattrUnsupported reports whether err says the filesystem has no user
// extended attributes at all.
func isXattrUnsupported(err error) bool {
	return errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}

// isXattrTooBig reports whether err says this value does not fit in an
// extended attribute (it may still fit in a sidecar).
func isXattrTooBig(err error) bool {
	return errors.Is(err, syscall.E2BIG) || errors.Is(err, syscall.ERANGE) ||
		errors.Is(err, syscall.ENOSPC)
}
