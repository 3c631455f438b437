package cache

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OSFS returns the real filesystem. Files are raw descriptors: pread,
// pwrite and fdatasync go straight to the kernel with no allocation.
func OSFS() FS { return osFS{} }

type osFS struct{}

var (
	_ FS   = osFS{}
	_ File = (*osFile)(nil)
)

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (osFS) OpenFile(name string, flag int, perm uint32) (File, error) {
	fd, err := unix.Open(name, flag|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return newOSFile(fd, name), nil
}

func (osFS) CreateTemp(dir string) (File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, pathErr("open tmpfile", dir, err)
	}
	return newOSFile(fd, dir), nil
}

func (osFS) Link(f File, newname string) error {
	of, ok := f.(*osFile)
	if !ok {
		return pathErr("link", newname, syscall.EINVAL)
	}
	fd := int(of.fd.Load())
	err := unix.Linkat(fd, "", unix.AT_FDCWD, newname, unix.AT_EMPTY_PATH)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPERM) {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not.
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd),
			unix.AT_FDCWD, newname, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return pathErr("link", newname, err)
	}
	return nil
}

func (osFS) Rename(oldname, newname string) error {
	if err := unix.Rename(oldname, newname); err != nil {
		return pathErr("rename", oldname, err)
	}
	return nil
}

func (osFS) Exchange(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return pathErr("exchange", a, err)
	}
	return nil
}

func (osFS) Remove(name string) error {
	err := unix.Unlink(name)
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EPERM) {
		err = unix.Rmdir(name)
	}
	if err != nil {
		return pathErr("remove", name, err)
	}
	return nil
}

func (osFS) Mkdir(name string, perm uint32) error {
	if err := unix.Mkdir(name, perm); err != nil {
		return pathErr("mkdir", name, err)
	}
	return nil
}

func (osFS) ReadDir(name string, max int) ([]string, error) {
	d, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(max)
	if err == io.EOF {
		err = nil // an empty directory, read with a limit
	}
	return names, err
}

func (osFS) Lstat(name string) (FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		return FileInfo{}, pathErr("lstat", name, err)
	}
	return fileInfo(&st), nil
}

func (osFS) Statfs(name string) (FSStat, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(name, &st); err != nil {
		return FSStat{}, pathErr("statfs", name, err)
	}
	return FSStat{Blocks: st.Blocks, BlocksAvail: st.Bavail, Files: st.Files, FilesFree: st.Ffree}, nil
}

func fileInfo(st *unix.Stat_t) FileInfo {
	return FileInfo{
		Size:   st.Size,
		Blocks: st.Blocks * 512,
		Ino:    st.Ino,
		Atime:  st.Atim.Nano(),
		Mtime:  st.Mtim.Nano(),
		IsDir:  st.Mode&unix.S_IFMT == unix.S_IFDIR,
	}
}

// osFile is a raw descriptor. fd is -1 once closed, so a use after Close
// fails with EBADF instead of touching whatever reused the number.
type osFile struct {
	fd   atomic.Int64
	name string
}

func newOSFile(fd int, name string) *osFile {
	f := &osFile{name: name}
	f.fd.Store(int64(fd))
	return f
}

// Fd returns the descriptor (for sendfile, see Span), -1 once closed.
func (f *osFile) Fd() int { return int(f.fd.Load()) }

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(int(f.fd.Load()), p[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, pathErr("read", f.name, err)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pwrite(int(f.fd.Load()), p[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, pathErr("write", f.name, err)
		}
		n += m
	}
	return n, nil
}

func (f *osFile) Sync() error {
	if err := unix.Fdatasync(int(f.fd.Load())); err != nil {
		return pathErr("fdatasync", f.name, err)
	}
	return nil
}

func (f *osFile) Truncate(size int64) error {
	if err := unix.Ftruncate(int(f.fd.Load()), size); err != nil {
		return pathErr("truncate", f.name, err)
	}
	return nil
}

func (f *osFile) Stat() (FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.fd.Load()), &st); err != nil {
		return FileInfo{}, pathErr("fstat", f.name, err)
	}
	return fileInfo(&st), nil
}

func (f *osFile) GetXattr(name string, dst []byte) (int, error) {
	n, err := unix.Fgetxattr(int(f.fd.Load()), name, dst)
	if err != nil {
		return 0, pathErr("getxattr", f.name, err)
	}
	return n, nil
}

func (f *osFile) SetXattr(name string, val []byte) error {
	if err := unix.Fsetxattr(int(f.fd.Load()), name, val, 0); err != nil {
		return pathErr("setxattr", f.name, err)
	}
	return nil
}

func (f *osFile) SetAtime(ns int64) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(ns), {Nsec: unix.UTIME_OMIT}}
	// utimensat(fd, NULL, ts, 0) is futimens(2).
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(f.fd.Load()), 0,
		uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return pathErr("futimens", f.name, e)
	}
	return nil
}

func (f *osFile) Close() error {
	fd := f.fd.Swap(-1)
	if fd < 0 {
		return pathErr("close", f.name, syscall.EBADF)
	}
	if err := unix.Close(int(fd)); err != nil {
		return pathErr("close", f.name, err)
	}
	return nil
}
