package cache

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// object is one cached upstream file: an open data file whose byte at
// offset x is the upstream's byte x, and its record. An invalidated
// object is replaced by a new one on a new inode; readers holding the old
// one finish on the old inode, and nothing it does afterwards reaches
// the record or the content map of the new one.
type object struct {
	s    *Store
	v    *volume
	fh   string // upstream handle
	dir  string // absolute fan-out directory
	path string // absolute data file path
	ent  *entry // cull index entry, set by openObject

	// f is set before busy is closed and then not changed until the
	// last reference is dropped.
	f File

	// wmu serialises writes of granule data to f (background stores and
	// WroteAt): each writer checks, under it, that its version is still
	// current before writing, so bytes of an older version can never land
	// over a granule a newer writer has marked present. Taken before mu;
	// held across disk I/O, but only writers of this object wait on it.
	wmu sync.Mutex

	// Guarded by Store.mu.
	refs               int
	state              objState
	busy               chan struct{} // non-nil while opening, culling or closing
	idlePrev, idleNext *object
	inIdle             bool

	// gen changes whenever granule bytes may change under a reader
	// (invalidation in place, WroteAt); written under mu.
	gen atomic.Uint64

	// mu guards the fields below.
	mu         sync.Mutex
	dead       bool // replaced, culled or failed: store and record nothing
	rec        record
	stale      bool // the file holds data no valid record describes
	dirty      bool // rec differs from what is on disk
	queued     bool // in the flush queue (which holds a reference)
	hasSidecar bool
	flights    map[int64]*flight
	// unsynced lists granules marked present whose bytes were written
	// but not yet fdatasync'd: persist syncs the file before a record
	// can claim them, and drops them if that fails.
	unsynced []unsyncedGranule
	raNext   int64 // furthest end a sequential reader has read to
	raMax    int64 // highest granule readahead was issued for
	raWin    int   // readahead window in granules (0: no stream yet)
	raStreak int   // sequential reads in a row, up to 2
	raCtx    context.Context
	raCancel context.CancelFunc
}

func newObject(s *Store, v *volume, fh string) *object {
	dir := filepath.Join(v.path, fanoutName([]byte(fh)))
	o := &object{s: s, v: v, fh: fh, dir: dir, path: filepath.Join(dir, handleName([]byte(fh)))}
	o.raMax = -1
	return o
}

// touch records a use for LRU culling.
func (o *object) touch() {
	if o.ent != nil {
		o.ent.lastUse.Store(o.s.opts.Clock.Now().UnixNano())
	}
}

// openObject opens o's data file and reads its record, or creates the
// file when it is missing and create is set. It reports whether o is
// live; either way the outcome is published to waiters.
func (s *Store) openObject(o *object, create bool, coh Coherency) bool {
	f, err := s.fs.OpenFile(o.path, unix.O_RDWR, 0)
	switch {
	case err == nil:
		s.loadObject(o, f)
	case isNotExist(err) && create && !s.noStore.Load():
		var needRecord bool
		if f, needRecord, err = s.createObject(o, coh); err != nil {
			s.ioError("create", o, err)
		}
		defer func() {
			if needRecord {
				s.markDirty(o)
			}
		}()
	case isNotExist(err) && create:
		s.ctr.noSpace.Add(1) // below a stop limit: serve uncached
	case isNotExist(err):
	default:
		s.ioError("open", o, err)
	}
	if f == nil {
		s.finishOpen(o, false)
		return false
	}
	o.f = f
	o.ent = s.idx.getOrAdd(o.v.dir, o.fh)
	o.touch()
	o.mu.Lock()
	bytes := o.rec.cmap.presentBytes(o.rec.coh.Size, s.shift)
	o.mu.Unlock()
	s.setSize(o.ent, bytes)
	s.finishOpen(o, true)
	return true
}

// loadObject reads o's record from the open file f. Anything unusable
// leaves an empty map and marks the file stale, so its first use
// replaces it rather than reusing its blocks.
func (s *Store) loadObject(o *object, f File) {
	buf := s.getBuf()
	rec, side, err := loadRecord(s.fs, f, o.path, []byte(o.fh), s.noXattr.Load(), (*buf)[:min(len(*buf), 8192)])
	s.putBuf(buf)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hasSidecar = side
	if err == nil && uint(rec.shift) == s.shift {
		o.rec = rec
		return
	}
	switch {
	case err == nil:
		s.log.Info("cache: granule size changed, dropping object", "volume", o.v.dir, "fh", handleName([]byte(o.fh)))
	case errors.Is(err, ErrNoRecord):
	case errors.Is(err, ErrRecordCorrupt), errors.Is(err, ErrRecordVersion), errors.Is(err, ErrRecordMismatch):
		s.log.Info("cache: unusable record, dropping object", "volume", o.v.dir, "fh", handleName([]byte(o.fh)), "err", err)
	default:
		s.ioError("read record", o, err)
	}
	o.rec = record{shift: uint8(s.shift)}
	o.stale = true
	if st, err := f.Stat(); err == nil {
		o.rec.ino = st.Ino
		o.stale = st.Size > 0
	}
}

// createObject makes o's data file: an O_TMPFILE carrying an empty record
// for coh, linked into place once complete. needRecord says the record
// could not go in an xattr and must be flushed to a sidecar once o.f is
// set.
func (s *Store) createObject(o *object, coh Coherency) (f File, needRecord bool, err error) {
	if f, needRecord, err = s.newInode(o, coh); err != nil {
		return nil, false, err
	}
	// A sidecar left here by a crash must not describe the new inode.
	if err := s.fs.Remove(o.path + sidecarSuffix); err != nil && !isNotExist(err) {
		f.Close()
		return nil, false, err
	}
	if err := s.fs.Link(f, o.path); err != nil {
		f.Close()
		return nil, false, err
	}
	return f, needRecord, nil
}

// newInode creates an unnamed file in o's directory (making directories
// as needed) and gives o an empty record for coh bound to it: in the
// file's xattr at once or, when needRecord, in a sidecar at o's next
// flush.
func (s *Store) newInode(o *object, coh Coherency) (f File, needRecord bool, err error) {
	f, err = s.fs.CreateTemp(o.dir)
	if isNotExist(err) {
		if err = s.mkdirs(o); err == nil {
			f, err = s.fs.CreateTemp(o.dir)
		}
	}
	if err != nil {
		return nil, false, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	rec := record{seq: 1, ino: st.Ino, shift: uint8(s.shift), coh: coh}
	needRecord = true
	if !s.noXattr.Load() {
		var b [recordHeader + MaxHandleLen + 4]byte
		err := f.SetXattr(recordXattr, rec.appendTo(b[:0], o.fh))
		switch {
		case err == nil:
			needRecord = false
		case isXattrUnsupported(err):
			s.noXattr.Store(true)
		default:
			f.Close()
			return nil, false, err
		}
	}
	o.mu.Lock()
	o.rec, o.stale, o.hasSidecar = rec, false, false
	o.mu.Unlock()
	return f, needRecord, nil
}

// mkdirs recreates o's volume and fan-out directories (and the cache
// root, should it have vanished).
func (s *Store) mkdirs(o *object) error {
	for _, d := range []string{s.root, s.cacheDir, o.v.path, o.dir} {
		if err := s.fs.Mkdir(d, 0o700); err != nil && !errors.Is(err, fsErrExist) {
			return err
		}
	}
	return nil
}

// markDirty queues o's record to be written by the flusher, which holds
// a reference until it has.
func (s *Store) markDirty(o *object) {
	o.mu.Lock()
	queue := !o.queued && !o.dead
	o.dirty = true
	o.queued = o.queued || queue
	o.mu.Unlock()
	if queue {
		s.retain(o)
		s.flush.push(o, false)
	}
}

// persist writes o's record if it is dirty. Only the flusher and Close
// call it, so records of one object are never written concurrently.
func (s *Store) persist(o *object, scratch []byte) []byte {
	return s.persistTry(o, scratch, 2)
}

func (s *Store) persistTry(o *object, scratch []byte, tries int) []byte {
	o.mu.Lock()
	if o.dead || !o.dirty {
		o.mu.Unlock()
		return scratch
	}
	o.dirty = false
	o.rec.seq++
	b := o.rec.appendTo(scratch[:0], o.fh)
	side := o.hasSidecar
	unsynced := o.unsynced
	o.unsynced = nil
	o.mu.Unlock()
	// Every granule this record claims was written before the snapshot;
	// one fdatasync here, off every request's path, makes them durable
	// before the record says so.
	if len(unsynced) > 0 {
		if err := o.f.Sync(); err != nil {
			s.ioError("sync", o, err)
			s.dropUnsynced(o, unsynced)
			if tries > 1 {
				return s.persistTry(o, b, tries-1) // a record without them
			}
			return b // dirty: written at the next flush or at Close
		}
	}
	inSide, noX, err := writeRecord(s.fs, o.f, o.path, b, !s.noXattr.Load(), side)
	if noX {
		s.noXattr.Store(true)
	}
	o.mu.Lock()
	o.hasSidecar = inSide
	if err != nil {
		o.dirty = true // written again at the next flush or at Close
	}
	o.mu.Unlock()
	if err != nil {
		s.ioError("write record", o, err)
	} else {
		s.ctr.recordWrites.Add(1)
	}
	return b
}

// unsyncedGranule is a granule marked present before its bytes were
// made durable.
type unsyncedGranule struct {
	g   int64
	crc uint32
}

// setUnsyncedLocked marks granule g present with crc (verified: these
// are the bytes just written) and remembers that it awaits a sync.
func (o *object) setUnsyncedLocked(g int64, crc uint32) {
	o.rec.cmap.set(g, crc, true)
	o.unsynced = append(o.unsynced, unsyncedGranule{g, crc})
}

// dropUnsynced forgets the granules whose sync failed (those still
// present with the same CRC), so they are fetched again, and leaves the
// record dirty so the next one is written without them. A failed
// fdatasync is reported once: the next one succeeds even though these
// bytes may be lost, so they must go now.
func (s *Store) dropUnsynced(o *object, gs []unsyncedGranule) {
	var n int64
	o.mu.Lock()
	if !o.dead {
		for _, u := range gs {
			if c, ok, _ := o.rec.cmap.lookup(u.g); ok && c == u.crc && o.rec.cmap.clear(u.g) {
				n += int64(granuleLen(o.rec.coh.Size, u.g, s.shift))
			}
		}
	}
	o.dirty = true
	o.mu.Unlock()
	if n > 0 {
		s.addSize(o.ent, -n)
	}
}
