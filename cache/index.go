package cache

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// index knows every object on disk, for LRU culling and BytesUsed. At
// startup a background walk fills it from directory listings and lstat
// (size allocated, atime as last use) without opening any object; an
// object opened before the walk reaches it is entered with the exact
// size its record gives. Last use is kept in memory and written back as
// the file's atime when the object is closed.
type index struct {
	clock   clockwork.Clock // last-use times
	readyCh chan struct{}   // closed when the walk finished
	ready   atomic.Bool
	count   atomic.Int64

	// mu guards m.
	mu sync.Mutex
	m  map[string]*entry // by absolute data file path
}

// entry is one object on disk. size and lastUse are atomics so the read
// path updates them without a lock.
type entry struct {
	path    string
	size    atomic.Int64 // data bytes; part of Store.used
	lastUse atomic.Int64 // Unix nanoseconds
}

type candidate struct {
	e       *entry
	lastUse int64
}

func (x *index) init(clock clockwork.Clock) {
	x.clock = clock
	x.readyCh = make(chan struct{})
	x.m = make(map[string]*entry)
}

// getOrAdd returns the entry for path, adding an empty one.
func (x *index) getOrAdd(path string) *entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.m[path]; e != nil {
		return e
	}
	e := &entry{path: path}
	e.lastUse.Store(x.clock.Now().UnixNano())
	x.m[path] = e
	x.count.Add(1)
	return e
}

// addWalked adds an entry found by the walk unless one exists.
func (x *index) addWalked(path string, size, atime int64) (*entry, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.m[path]; e != nil {
		return e, false
	}
	e := &entry{path: path}
	e.size.Store(size)
	e.lastUse.Store(atime)
	x.m[path] = e
	x.count.Add(1)
	return e, true
}

// remove deletes e and reports whether it was there. The caller settles
// e's size with Store.used.
func (x *index) remove(e *entry) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m[e.path] != e {
		return false
	}
	delete(x.m, e.path)
	x.count.Add(-1)
	return true
}

func (x *index) snapshot() []candidate {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]candidate, 0, len(x.m))
	for _, e := range x.m {
		out = append(out, candidate{e, e.lastUse.Load()})
	}
	return out
}

// walkLoop builds the index in the background, then marks it ready.
func (s *Store) walkLoop() {
	defer s.wg.Done()
	start := time.Now()
	var objects int
	vols, err := s.fs.ReadDir(s.cacheDir)
	if err != nil && !isNotExist(err) {
		s.ioError("walk", nil, err)
	}
	for _, vd := range vols {
		if !strings.HasPrefix(vd, "I") {
			continue
		}
		vpath := filepath.Join(s.cacheDir, vd)
		fans, _ := s.fs.ReadDir(vpath)
		for _, fd := range fans {
			if !strings.HasPrefix(fd, "@") {
				continue
			}
			dir := filepath.Join(vpath, fd)
			names, _ := s.fs.ReadDir(dir)
			for _, name := range names {
				if s.ctx.Err() != nil {
					return
				}
				if _, ok := parseHandleName(name); !ok {
					continue
				}
				path := filepath.Join(dir, name)
				st, err := s.fs.Lstat(path)
				if err != nil || st.IsDir {
					continue
				}
				objects++
				if _, added := s.idx.addWalked(path, st.Blocks, st.Atime); added {
					s.used.Add(st.Blocks)
				}
			}
		}
	}
	s.idx.ready.Store(true)
	close(s.idx.readyCh)
	s.log.Info("cache: index ready", "objects", objects, "bytes", s.used.Load(), "took", time.Since(start))
}

// reapLoop deletes what invalidation and culling moved to the graveyard.
func (s *Store) reapLoop() {
	defer s.wg.Done()
	for {
		names, err := s.fs.ReadDir(s.graveDir)
		if err != nil && !isNotExist(err) {
			s.ioError("reap", nil, err)
		}
		for _, name := range names {
			if s.ctx.Err() != nil {
				return
			}
			if err := s.fs.Remove(filepath.Join(s.graveDir, name)); err == nil {
				s.ctr.reaped.Add(1)
			} else if !isNotExist(err) {
				s.ioError("reap", nil, err)
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.reapKick:
		}
	}
}
