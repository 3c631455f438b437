package cache

import (
	"errors"
	"io"
	"sync"
)

// Op names one kind of FS or File operation for fault injection.
type Op int

// Operations FaultFS can fail.
const (
	OpOpen Op = iota
	OpCreateTemp
	OpLink
	OpRename
	OpExchange
	OpRemove
	OpMkdir
	OpReadDir
	OpLstat
	OpStatfs
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpStat
	OpGetXattr
	OpSetXattr
	OpSetAtime
	numOps
)

// FaultFS wraps an FS for tests. It counts operations, fails chosen ones
// with chosen errors, can pretend statfs numbers, and can simulate a
// crash: every write not yet made durable by Sync is undone (extended
// attributes and names are kept, the worst case for a cache that must not
// claim data it never synced) and every later operation fails with
// ErrCrashed.
type FaultFS struct {
	inner FS

	// mu guards everything below.
	mu      sync.Mutex
	counts  [numOps]int
	rules   []faultRule
	statfs  *FSStat
	crashed bool
	lieSync bool
	open    map[*faultFile]struct{}
}

type faultRule struct {
	op     Op
	at     int // fail when counts[op] reaches at; 0 = every time
	err    error
	crash  bool // crash the FS at this operation
	remove bool // removed once fired (at > 0)
}

var (
	_ FS   = (*FaultFS)(nil)
	_ File = (*faultFile)(nil)
)

// NewFaultFS wraps inner; nil means OSFS().
func NewFaultFS(inner FS) *FaultFS {
	if inner == nil {
		inner = OSFS()
	}
	return &FaultFS{inner: inner, open: make(map[*faultFile]struct{})}
}

// FailNth makes the nth operation of kind op from now fail with err.
func (f *FaultFS) FailNth(op Op, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, faultRule{op: op, at: f.counts[op] + n, err: err, remove: true})
}

// FailAll makes every operation of kind op fail with err until Heal.
func (f *FaultFS) FailAll(op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, faultRule{op: op, err: err})
}

// CrashAtNth crashes the filesystem when the nth operation of kind op
// from now starts; that operation and all later ones fail.
func (f *FaultFS) CrashAtNth(op Op, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, faultRule{op: op, at: f.counts[op] + n, err: ErrCrashed, crash: true, remove: true})
}

// LieAboutSync makes Sync report success without making anything
// durable, like a disk that acknowledges a cache flush it never did: a
// later Crash then undoes writes the Store believes are safe.
func (f *FaultFS) LieAboutSync(lie bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lieSync = lie
}

// Heal drops all rules (not a crash).
func (f *FaultFS) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Count reports how many operations of kind op were attempted.
func (f *FaultFS) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// SetStatfs makes Statfs report st (nil: the real numbers).
func (f *FaultFS) SetStatfs(st *FSStat) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statfs = st
}

// Crash undoes every unsynced write of every open file, in reverse order,
// and fails all later operations with ErrCrashed.
func (f *FaultFS) Crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashLocked()
}

func (f *FaultFS) crashLocked() {
	if f.crashed {
		return
	}
	f.crashed = true
	for ff := range f.open {
		ff.undoAll()
	}
}

// check counts op and returns the injected error, if any.
func (f *FaultFS) check(op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return ErrCrashed
	}
	f.counts[op]++
	for i, r := range f.rules {
		if r.op != op || (r.at != 0 && r.at != f.counts[op]) {
			continue
		}
		if r.remove {
			f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
		}
		if r.crash {
			f.crashLocked()
		}
		return r.err
	}
	return nil
}

func (f *FaultFS) wrap(inner File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	ff := &faultFile{fs: f, inner: inner}
	f.mu.Lock()
	f.open[ff] = struct{}{}
	f.mu.Unlock()
	return ff, nil
}

func (f *FaultFS) OpenFile(name string, flag int, perm uint32) (File, error) {
	if err := f.check(OpOpen); err != nil {
		return nil, pathErr("open", name, err)
	}
	return f.wrap(f.inner.OpenFile(name, flag, perm))
}

func (f *FaultFS) CreateTemp(dir string) (File, error) {
	if err := f.check(OpCreateTemp); err != nil {
		return nil, pathErr("open tmpfile", dir, err)
	}
	return f.wrap(f.inner.CreateTemp(dir))
}

func (f *FaultFS) Link(file File, newname string) error {
	if err := f.check(OpLink); err != nil {
		return pathErr("link", newname, err)
	}
	if ff, ok := file.(*faultFile); ok {
		file = ff.inner
	}
	return f.inner.Link(file, newname)
}

func (f *FaultFS) Rename(oldname, newname string) error {
	if err := f.check(OpRename); err != nil {
		return pathErr("rename", oldname, err)
	}
	return f.inner.Rename(oldname, newname)
}

func (f *FaultFS) Exchange(a, b string) error {
	if err := f.check(OpExchange); err != nil {
		return pathErr("exchange", a, err)
	}
	return f.inner.Exchange(a, b)
}

func (f *FaultFS) Remove(name string) error {
	if err := f.check(OpRemove); err != nil {
		return pathErr("remove", name, err)
	}
	return f.inner.Remove(name)
}

func (f *FaultFS) Mkdir(name string, perm uint32) error {
	if err := f.check(OpMkdir); err != nil {
		return pathErr("mkdir", name, err)
	}
	return f.inner.Mkdir(name, perm)
}

func (f *FaultFS) ReadDir(name string, max int) ([]string, error) {
	if err := f.check(OpReadDir); err != nil {
		return nil, pathErr("readdir", name, err)
	}
	return f.inner.ReadDir(name, max)
}

func (f *FaultFS) Lstat(name string) (FileInfo, error) {
	if err := f.check(OpLstat); err != nil {
		return FileInfo{}, pathErr("lstat", name, err)
	}
	return f.inner.Lstat(name)
}

func (f *FaultFS) Statfs(name string) (FSStat, error) {
	if err := f.check(OpStatfs); err != nil {
		return FSStat{}, pathErr("statfs", name, err)
	}
	f.mu.Lock()
	st := f.statfs
	f.mu.Unlock()
	if st != nil {
		return *st, nil
	}
	return f.inner.Statfs(name)
}

// faultFile keeps an undo log of writes since the last Sync. A file
// closed with unsynced writes keeps its descriptor until a crash undoes
// them (the page cache would still lose them then).
type faultFile struct {
	fs    *FaultFS
	inner File

	// mu guards undo and closed.
	mu     sync.Mutex
	undo   []undoRec
	closed bool
}

type undoRec struct {
	off     int64
	old     []byte
	oldSize int64
}

func (ff *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := ff.fs.check(OpRead); err != nil {
		return 0, pathErr("read", "faultfs", err)
	}
	return ff.inner.ReadAt(p, off)
}

func (ff *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := ff.fs.check(OpWrite); err != nil {
		return 0, pathErr("write", "faultfs", err)
	}
	st, err := ff.inner.Stat()
	if err != nil {
		return 0, err
	}
	rec := undoRec{off: off, oldSize: st.Size}
	if off < st.Size {
		rec.old = make([]byte, min(int64(len(p)), st.Size-off))
		if _, err := ff.inner.ReadAt(rec.old, off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
	}
	ff.mu.Lock()
	ff.undo = append(ff.undo, rec)
	ff.mu.Unlock()
	return ff.inner.WriteAt(p, off)
}

func (ff *faultFile) Sync() error {
	if err := ff.fs.check(OpSync); err != nil {
		return pathErr("fdatasync", "faultfs", err)
	}
	ff.fs.mu.Lock()
	lie := ff.fs.lieSync
	ff.fs.mu.Unlock()
	if lie {
		return nil
	}
	if err := ff.inner.Sync(); err != nil {
		return err
	}
	ff.mu.Lock()
	ff.undo = nil
	ff.mu.Unlock()
	return nil
}

// undoAll restores the file to its state at the last Sync. Called with
// fs.mu held.
func (ff *faultFile) undoAll() {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	for i := len(ff.undo) - 1; i >= 0; i-- {
		u := ff.undo[i]
		if len(u.old) > 0 {
			ff.inner.WriteAt(u.old, u.off)
		}
		ff.inner.Truncate(u.oldSize)
	}
	ff.undo = nil
	if ff.closed {
		ff.inner.Close()
		delete(ff.fs.open, ff)
	}
}

func (ff *faultFile) Truncate(size int64) error {
	if err := ff.fs.check(OpTruncate); err != nil {
		return pathErr("truncate", "faultfs", err)
	}
	return ff.inner.Truncate(size)
}

func (ff *faultFile) Stat() (FileInfo, error) {
	if err := ff.fs.check(OpStat); err != nil {
		return FileInfo{}, pathErr("fstat", "faultfs", err)
	}
	return ff.inner.Stat()
}

func (ff *faultFile) GetXattr(name string, dst []byte) (int, error) {
	if err := ff.fs.check(OpGetXattr); err != nil {
		return 0, pathErr("getxattr", "faultfs", err)
	}
	return ff.inner.GetXattr(name, dst)
}

func (ff *faultFile) SetXattr(name string, val []byte) error {
	if err := ff.fs.check(OpSetXattr); err != nil {
		return pathErr("setxattr", "faultfs", err)
	}
	return ff.inner.SetXattr(name, val)
}

func (ff *faultFile) SetAtime(ns int64) error {
	if err := ff.fs.check(OpSetAtime); err != nil {
		return pathErr("futimens", "faultfs", err)
	}
	return ff.inner.SetAtime(ns)
}

// Close closes the real descriptor unless unsynced writes remain and the
// FS has not crashed yet; then Crash closes it after undoing them.
func (ff *faultFile) Close() error {
	ff.fs.mu.Lock()
	defer ff.fs.mu.Unlock()
	ff.mu.Lock()
	keep := len(ff.undo) > 0 && !ff.fs.crashed
	ff.closed = true
	ff.mu.Unlock()
	if keep {
		return nil
	}
	delete(ff.fs.open, ff)
	return ff.inner.Close()
}
