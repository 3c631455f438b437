package cache

import (
	"cmp"
	"hash/maphash"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// index knows every object on disk, for LRU culling and BytesUsed. At
// startup a background walk fills it from directory listings and lstat
// (size allocated, atime as last use) without opening any object. The
// walk never delays a request: an object is opened by the path its key
// names, indexed or not, and one opened before the walk reaches it is
// entered with the exact size its record gives, which the walk then
// leaves alone (so its bytes are counted once). Last use is kept in
// memory and written back as the file's atime when the object is closed.
//
// It is built for millions of objects (issue 14: 1,000,000 in well under
// 256 MiB). Per object it holds a map slot, the handle (the map key; the
// object's path is derived from it and the volume only when culling) and
// a 16-byte entry of two atomics: 86-119 bytes for a 32-byte handle,
// depending on the maps' load, against 195-216 when it was keyed by
// absolute path. Maps are per volume directory and split in indexShards
// shards by a hash of the handle, each under its own mutex, so the walk,
// opens and culling's scans rarely wait for each other. Culling never
// copies or sorts the whole index: oldest scans the shards for a bounded
// batch of the least recently used entries.
type index struct {
	clock   clockwork.Clock // last-use times
	seed    maphash.Seed
	readyCh chan struct{} // closed when the walk finished
	ready   atomic.Bool
	count   atomic.Int64

	// volMu guards vols. Leaf; never held with a shard's mu.
	volMu sync.Mutex
	vols  map[string]*volIndex // by volume directory name
}

const indexShards = 16

// volIndex is the part of the index for one volume directory.
type volIndex struct {
	dir    string // "I..."
	shards [indexShards]indexShard
}

type indexShard struct {
	// mu guards m. Leaf.
	mu sync.Mutex
	m  map[string]*entry // by upstream handle
}

// entry is one object on disk. Its atomics let the read path update it
// without a lock; its key lives in the map only.
type entry struct {
	size    atomic.Int64 // data bytes; part of Store.used
	lastUse atomic.Int64 // Unix nanoseconds
}

// candidate is an entry chosen for culling, with the key that names it.
type candidate struct {
	v       *volIndex
	fh      string
	e       *entry
	lastUse int64
}

// before orders candidates by last use, then volume and handle, so that
// equal times still give a total order a pass can resume from.
func (a *candidate) before(b *candidate) bool {
	if c := cmp.Compare(a.lastUse, b.lastUse); c != 0 {
		return c < 0
	}
	if a.v.dir != b.v.dir {
		return a.v.dir < b.v.dir
	}
	return a.fh < b.fh
}

func (x *index) init(clock clockwork.Clock) {
	x.clock = clock
	x.seed = maphash.MakeSeed()
	x.readyCh = make(chan struct{})
	x.vols = make(map[string]*volIndex)
}

// volume returns the index of volume directory dir, creating it.
func (x *index) volume(dir string) *volIndex {
	x.volMu.Lock()
	defer x.volMu.Unlock()
	v := x.vols[dir]
	if v == nil {
		v = &volIndex{dir: dir}
		for i := range v.shards {
			v.shards[i].m = make(map[string]*entry)
		}
		x.vols[dir] = v
	}
	return v
}

func (x *index) shard(v *volIndex, fh string) *indexShard {
	return &v.shards[maphash.String(x.seed, fh)%indexShards]
}

// getOrAdd returns the entry for (vdir, fh), adding an empty one used now.
func (x *index) getOrAdd(vdir, fh string) *entry {
	sh := x.shard(x.volume(vdir), fh)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[fh]; e != nil {
		return e
	}
	e := new(entry)
	e.lastUse.Store(x.clock.Now().UnixNano())
	sh.m[fh] = e
	x.count.Add(1)
	return e
}

// addWalked adds an entry found by the walk unless one exists, and
// reports whether it did.
func (x *index) addWalked(v *volIndex, fh string, size, atime int64) bool {
	sh := x.shard(v, fh)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[fh] != nil {
		return false
	}
	e := new(entry)
	e.size.Store(size)
	e.lastUse.Store(atime)
	sh.m[fh] = e
	x.count.Add(1)
	return true
}

// remove deletes e, the entry of (vdir, fh), and reports whether it was
// there. The caller settles e's size with Store.used.
func (x *index) remove(vdir, fh string, e *entry) bool {
	x.volMu.Lock()
	v := x.vols[vdir]
	x.volMu.Unlock()
	if v == nil {
		return false
	}
	sh := x.shard(v, fh)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[fh] != e {
		return false
	}
	delete(sh.m, fh)
	x.count.Add(-1)
	return true
}

// oldest returns up to n entries, least recently used first, that come
// after the candidate after (all entries when after is nil). It holds one
// shard's lock at a time and keeps only n candidates, so its memory is
// bounded by n, not by the size of the index.
func (x *index) oldest(n int, after *candidate) []candidate {
	x.volMu.Lock()
	vols := make([]*volIndex, 0, len(x.vols))
	for _, v := range x.vols {
		vols = append(vols, v)
	}
	x.volMu.Unlock()
	h := make(newestFirst, 0, n)
	for _, v := range vols {
		for i := range v.shards {
			sh := &v.shards[i]
			sh.mu.Lock()
			for fh, e := range sh.m {
				c := candidate{v, fh, e, e.lastUse.Load()}
				switch {
				case after != nil && !after.before(&c):
				case len(h) < n:
					h = append(h, c)
					h.up(len(h) - 1)
				case c.before(&h[0]):
					h[0] = c
					h.down(0)
				}
			}
			sh.mu.Unlock()
		}
	}
	// Taking the newest off the top fills the result from its end, in
	// place: the heap shrinks as the sorted tail grows.
	for end := len(h) - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		h[:end].down(0)
	}
	return h
}

// newestFirst is a max-heap of candidates: the newest on top, to be
// replaced by anything older. Hand-written rather than container/heap so
// that a scan allocates nothing per candidate.
type newestFirst []candidate

func (h newestFirst) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[p].before(&h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (h newestFirst) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[l].before(&h[r]) {
			c = r
		}
		if !h[i].before(&h[c]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// walkLoop builds the index in the background, then marks it ready.
func (s *Store) walkLoop() {
	defer s.wg.Done()
	start := time.Now()
	var objects int
	vols, err := s.fs.ReadDir(s.cacheDir, 0)
	if err != nil && !isNotExist(err) {
		s.ioError("walk", nil, err)
	}
	for _, vd := range vols {
		if !strings.HasPrefix(vd, "I") {
			continue
		}
		vpath := filepath.Join(s.cacheDir, vd)
		vx := s.idx.volume(vd)
		fans, _ := s.fs.ReadDir(vpath, 0)
		for _, fd := range fans {
			if !strings.HasPrefix(fd, "@") {
				continue
			}
			dir := filepath.Join(vpath, fd)
			names, _ := s.fs.ReadDir(dir, 0)
			for _, name := range names {
				if s.ctx.Err() != nil {
					return
				}
				fh, ok := parseHandleName(name)
				if !ok || fanoutName(fh) != fd {
					continue // not a data file, or one no key leads to
				}
				st, err := s.fs.Lstat(filepath.Join(dir, name))
				if err != nil || st.IsDir {
					continue
				}
				objects++
				if s.idx.addWalked(vx, string(fh), st.Blocks, st.Atime) {
					s.used.Add(st.Blocks)
				}
			}
		}
	}
	s.idx.ready.Store(true)
	close(s.idx.readyCh)
	s.log.Info("cache: index ready", "objects", objects, "bytes", s.used.Load(), "took", time.Since(start))
}

// reapBatch bounds the graveyard names the reaper holds at once: a
// restart after culling a large cache can find hundreds of thousands.
const reapBatch = 1024

// reapLoop deletes what invalidation and culling moved to the graveyard.
func (s *Store) reapLoop() {
	defer s.wg.Done()
	for {
		if !s.reap() {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.reapKick:
		}
	}
}

// reap empties the graveyard reapBatch names at a time, each batch read
// afresh from the start of the directory (what was deleted is gone from
// it), until a batch is short or deletes nothing. It reports false when
// the Store is closing.
func (s *Store) reap() bool {
	for {
		names, err := s.fs.ReadDir(s.graveDir, reapBatch)
		if err != nil && !isNotExist(err) {
			s.ioError("reap", nil, err)
		}
		deleted := 0
		for _, name := range names {
			if s.ctx.Err() != nil {
				return false
			}
			if err := s.fs.Remove(filepath.Join(s.graveDir, name)); err == nil {
				s.ctr.reaped.Add(1)
				deleted++
			} else if isNotExist(err) {
				deleted++ // someone else's, or a stale listing: gone either way
			} else {
				s.ioError("reap", nil, err)
			}
		}
		if len(names) < reapBatch || deleted == 0 {
			return true
		}
	}
}
