package cache

import (
	"io/fs"
	"path/filepath"
)

var fsErrExist = fs.ErrExist

// volume is one I<key> directory. key is known for volumes named by a
// request; the culler may create one from its directory name alone.
type volume struct {
	key  VolumeKey
	dir  string             // directory name, "I..."
	path string             // absolute
	objs map[string]*object // by upstream handle; guarded by Store.mu
}

// objState is where an object is in its life; guarded by Store.mu.
type objState uint8

const (
	stOpening objState = iota // busy: being opened or created
	stLive                    // usable
	stDead                    // replaced or failed: out of the table
	stCulling                 // busy placeholder: file going to graveyard
	stClosing                 // busy: evicted, record being written
)

// volumeLocked finds or makes the volume for k.
func (s *Store) volumeLocked(k VolumeKey) *volume {
	if v := s.byKey[k]; v != nil {
		return v
	}
	dir := volumeDirName(k)
	v := s.byDir[dir]
	if v == nil {
		v = s.newVolumeLocked(dir)
	}
	v.key = k
	s.byKey[k] = v
	return v
}

func (s *Store) newVolumeLocked(dir string) *volume {
	v := &volume{dir: dir, path: filepath.Join(s.cacheDir, dir), objs: make(map[string]*object)}
	s.byDir[dir] = v
	return v
}

// acquire returns the object for (k, fh) with a reference the caller
// must release, opening it from disk if needed. With create, a missing
// object is created with coherency coh; without, nil is returned for
// it. nil also means the object cannot be used now (I/O error, no
// space): the caller passes through.
func (s *Store) acquire(k VolumeKey, fh []byte, create bool, coh Coherency) *object {
	if len(fh) == 0 || len(fh) > MaxHandleLen {
		return nil
	}
	for tries := 0; tries < 3; tries++ {
		s.mu.Lock()
		v := s.volumeLocked(k)
		o := v.objs[string(fh)]
		if o == nil {
			o = s.newObjectLocked(v, string(fh))
			s.mu.Unlock()
			if s.openObject(o, create, coh) {
				return o
			}
			s.release(o)
			return nil
		}
		if ch := o.busy; ch != nil {
			opening := o.state == stOpening
			if opening {
				o.refs++
			}
			s.mu.Unlock()
			<-ch
			if !opening {
				continue // culled or closed: look again
			}
			s.mu.Lock()
			live := o.state == stLive
			s.mu.Unlock()
			if live {
				return o
			}
			s.release(o)
			continue // the opener failed, perhaps for a reason we lack
		}
		o.refs++
		s.idle.remove(o)
		s.mu.Unlock()
		return o
	}
	return nil
}

// acquireOpen is acquire of an object that is open and live already, nil
// otherwise: it never touches the disk (ReadSpan's lookup, which leaves
// opening to ReadAt).
func (s *Store) acquireOpen(k VolumeKey, fh []byte) *object {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byKey[k]
	if v == nil {
		return nil
	}
	o := v.objs[string(fh)]
	if o == nil || o.busy != nil || o.state != stLive {
		return nil
	}
	o.refs++
	s.idle.remove(o)
	return o
}

// newObjectLocked puts a busy, opening object with one reference in the
// table.
func (s *Store) newObjectLocked(v *volume, fh string) *object {
	o := newObject(s, v, fh)
	o.state = stOpening
	o.busy = make(chan struct{})
	o.refs = 1
	v.objs[fh] = o
	s.nopen.Add(1)
	return o
}

// finishOpen publishes the outcome of opening o: live, or dead and out
// of the table.
func (s *Store) finishOpen(o *object, ok bool) {
	s.mu.Lock()
	if ok {
		o.state = stLive
	} else {
		o.state = stDead
		s.removeLocked(o)
	}
	close(o.busy)
	o.busy = nil
	s.mu.Unlock()
}

// removeLocked takes o out of the table if it is still there.
func (s *Store) removeLocked(o *object) {
	if o.v.objs[o.fh] == o {
		delete(o.v.objs, o.fh)
		s.nopen.Add(-1)
	}
	s.idle.remove(o)
}

// retain adds a reference to an object the caller already holds one on.
func (s *Store) retain(o *object) {
	s.mu.Lock()
	o.refs++
	s.mu.Unlock()
}

// release drops a reference. The last reference to a dead object closes
// its file; a live object becomes idle, and when too many objects are
// open the least recently used idle ones are handed to the flusher to
// be closed.
func (s *Store) release(o *object) {
	if o == nil {
		return
	}
	var closeF File
	var evict [2]*object
	s.mu.Lock()
	o.refs--
	if o.refs == 0 {
		switch o.state {
		case stLive:
			s.idle.pushBack(o)
			for i := range evict {
				if s.nopen.Load() <= int64(s.opts.MaxOpenObjects) || s.idle.head == nil {
					break
				}
				e := s.idle.head
				s.idle.remove(e)
				e.state = stClosing
				e.busy = make(chan struct{})
				evict[i] = e
			}
		case stDead:
			closeF = o.f
		}
	}
	s.mu.Unlock()
	if closeF != nil {
		closeF.Close()
	}
	// Closing is the flusher's job, but a burst over many files can open
	// objects faster than one goroutine writes them out: past twice the
	// bound the releasing caller closes its evictions itself, so open
	// descriptors stay bounded (backpressure instead of EMFILE).
	inline := s.nopen.Load() > 2*int64(s.opts.MaxOpenObjects)
	for _, e := range evict {
		if e == nil {
			continue
		}
		if inline {
			s.closeObject(e, nil)
			s.finishClose(e)
		} else {
			s.flush.push(e, true)
		}
	}
}

// finishClose completes the eviction of o once the flusher wrote it out.
func (s *Store) finishClose(o *object) {
	s.mu.Lock()
	o.state = stDead
	s.removeLocked(o)
	close(o.busy)
	o.busy = nil
	s.mu.Unlock()
}

// idleList is an intrusive doubly linked list of idle objects, least
// recently used at the head. Guarded by Store.mu; it never allocates.
type idleList struct {
	head, tail *object
}

func (l *idleList) pushBack(o *object) {
	if o.inIdle {
		l.remove(o)
	}
	o.inIdle = true
	o.idlePrev, o.idleNext = l.tail, nil
	if l.tail != nil {
		l.tail.idleNext = o
	} else {
		l.head = o
	}
	l.tail = o
}

func (l *idleList) remove(o *object) {
	if !o.inIdle {
		return
	}
	if o.idlePrev != nil {
		o.idlePrev.idleNext = o.idleNext
	} else {
		l.head = o.idleNext
	}
	if o.idleNext != nil {
		o.idleNext.idlePrev = o.idlePrev
	} else {
		l.tail = o.idlePrev
	}
	o.idlePrev, o.idleNext, o.inIdle = nil, nil, false
}
