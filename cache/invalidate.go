package cache

import (
	"errors"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Invalidate drops everything cached for (vol, fh). It never fails: if
// the cache cannot be changed the object is left for the next ReadAt,
// whose coherency check (or Check --repair) deals with it.
func (s *Store) Invalidate(vol VolumeKey, fh []byte) {
	if !s.enter() {
		return
	}
	defer s.leave()
	o := s.acquire(vol, fh, false, Coherency{})
	if o == nil {
		return
	}
	s.ctr.invalidations.Add(1)
	s.forget(o)
}

// forget drops o, on which the caller holds a reference that forget
// consumes: its file goes to the graveyard and nothing takes its place,
// so the handle's next use starts a new object. Unlike replace it makes
// no inode for an object that may never be used again (the common case:
// REMOVE of a file the proxy just wrote, a build's temporary), which
// saves an O_TMPFILE, a link, an exchange and a record write per
// invalidation. A placeholder holds the handle's slot while the file
// moves, so nobody opens the old file by its name meanwhile; reads in
// progress on o finish on its open file.
func (s *Store) forget(o *object) {
	ph := s.supplant(o)
	if ph == nil {
		s.release(o) // someone else replaced or dropped it first
		return
	}
	// The sidecar first: a crash between the two leaves an inode without
	// its record, which the next open discards, never a record beside an
	// inode it does not describe.
	if err := s.fs.Remove(o.path + sidecarSuffix); err != nil && !isNotExist(err) {
		s.ioError("invalidate", o, err)
	}
	if err := s.bury(o.path); err != nil && !isNotExist(err) {
		s.ioError("invalidate", o, err)
		if rerr := s.fs.Remove(o.path); rerr != nil && !isNotExist(rerr) {
			s.log.Error("cache: cannot remove invalidated object", "path", o.path, "err", rerr)
		}
	}
	s.setSize(o.ent, 0)
	s.idx.remove(o.v.dir, o.fh, o.ent)
	s.finishOpen(ph, false)
	s.release(o)
	s.release(ph)
}

// replace invalidates o, on which the caller holds a reference that
// replace consumes: a new object with an empty record for coh takes o's
// place in the table and on disk, and o is dead. The new inode is made
// with O_TMPFILE and swapped with the old name atomically, so reads in
// progress on o finish on the old inode; the old inode then moves to the
// graveyard for the reaper. The result carries a reference, or is nil
// when the cache could not be changed (pass through). If someone else
// replaced o first, their object is used when retry is set.
func (s *Store) replace(o *object, coh Coherency, retry bool) *object {
	n := s.supplant(o)
	if n == nil {
		s.release(o)
		if !retry {
			return nil
		}
		return s.acquireFor(o.v.key, []byte(o.fh), coh)
	}
	f, needRecord, err := s.swapIn(n, coh)
	if err != nil {
		s.ioError("invalidate", n, err)
		// Do not leave the old data where a restart would find it.
		if rerr := s.fs.Remove(o.path); rerr != nil && !isNotExist(rerr) {
			s.log.Error("cache: cannot remove invalidated object", "path", o.path, "err", rerr)
		}
		s.setSize(o.ent, 0)
		s.idx.remove(o.v.dir, o.fh, o.ent)
	} else {
		n.f = f
		s.setSize(n.ent, 0)
		n.touch()
		if needRecord {
			s.markDirty(n)
		}
	}
	s.finishOpen(n, err == nil)
	s.release(o)
	if err != nil {
		s.release(n)
		return nil
	}
	return n
}

// supplant puts a busy placeholder, with one reference, in o's slot of
// the table and marks o dead: nobody opens the handle until the
// placeholder is finished (finishOpen), and reads in progress on o end
// on its open file. nil means o is no longer the live object (someone
// replaced or dropped it first).
func (s *Store) supplant(o *object) *object {
	s.mu.Lock()
	if o.state != stLive || o.v.objs[o.fh] != o {
		s.mu.Unlock()
		return nil
	}
	n := newObject(s, o.v, o.fh)
	n.state, n.busy, n.refs = stOpening, make(chan struct{}), 1
	n.ent = o.ent
	o.v.objs[o.fh] = n
	o.state = stDead
	s.mu.Unlock()

	o.mu.Lock()
	o.dead = true
	o.gen.Add(1)
	cancel := o.raCancel
	o.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return n
}

// swapIn gives n a fresh inode with an empty record for coh and swaps it
// with whatever is at n.path, which goes to the graveyard.
func (s *Store) swapIn(n *object, coh Coherency) (File, bool, error) {
	f, needRecord, err := s.newInode(n, coh)
	if err != nil {
		return nil, false, err
	}
	fail := func(err error) (File, bool, error) {
		f.Close()
		return nil, false, err
	}
	tmp := n.path + swapSuffix
	if err := s.fs.Remove(tmp); err != nil && !isNotExist(err) {
		return fail(err)
	}
	if err := s.fs.Link(f, tmp); err != nil {
		return fail(err)
	}
	// The old sidecar goes before the new inode gets the name, so no
	// sidecar ever sits beside an inode it does not describe.
	if err := s.fs.Remove(n.path + sidecarSuffix); err != nil && !isNotExist(err) {
		return fail(err)
	}
	err = s.fs.Exchange(tmp, n.path)
	switch {
	case err == nil:
		err = s.bury(tmp)
	case isNotExist(err):
		// Nothing was there (culled, or the directory vanished).
		err = s.fs.Rename(tmp, n.path)
	case errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS):
		// No RENAME_EXCHANGE here: bury the old name, then take it.
		if err = s.bury(n.path); err == nil || isNotExist(err) {
			err = s.fs.Rename(tmp, n.path)
		}
	}
	if err != nil {
		return fail(err)
	}
	return f, needRecord, nil
}

// bury moves a dead file to the graveyard and wakes the reaper.
func (s *Store) bury(name string) error {
	grave := filepath.Join(s.graveDir, strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+
		strconv.FormatUint(s.graveSeq.Add(1), 36))
	err := s.fs.Rename(name, grave)
	if err == nil {
		s.kick(s.reapKick)
	}
	return err
}
