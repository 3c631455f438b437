package coherency

import (
	"sync"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// NameEntry is a cached LOOKUP result. FH is the upstream handle of a
// positive entry; it is shared with the cache and must not be modified.
type NameEntry struct {
	FH       []byte
	Negative bool // the upstream said NOENT
}

type nameKey struct {
	dir, name string
}

type nameEntry struct {
	key nameKey
	fh  []byte // never modified once stored; nil: the name does not exist
	gen uint64 // the directory's gen when stored
	lru lruLinks[nameEntry]
}

// negative reports a cached NOENT.
func (e *nameEntry) negative() bool { return e.fh == nil }

func (e *nameEntry) links() *lruLinks[nameEntry] { return &e.lru }

// nameShard holds the names whose (directory, name) hash to it.
type nameShard struct {
	max int // entries kept; set once by init

	// mu guards m, lru and every entry in them.
	mu  sync.Mutex
	m   map[nameKey]*nameEntry
	lru lruList[nameEntry, *nameEntry]
}

func (s *nameShard) init(max int) {
	s.max = max
	s.m = make(map[nameKey]*nameEntry)
	s.lru.init()
}

func (s *nameShard) clear(ctr *counters) {
	s.mu.Lock()
	ctr.nameEntries.Add(-int64(len(s.m)))
	s.m = make(map[nameKey]*nameEntry)
	s.lru.init()
	s.mu.Unlock()
}

func (s *nameShard) removeLocked(e *nameEntry, ctr *counters) {
	delete(s.m, e.key)
	s.lru.remove(e)
	ctr.nameEntries.Add(-1)
}

// forgetIf drops the entry k if it leads to fh.
func (s *nameShard) forgetIf(k nameKey, fh []byte, ctr *counters) {
	s.mu.Lock()
	if e := s.m[k]; e != nil && !e.negative() && string(e.fh) == string(fh) {
		s.removeLocked(e, ctr)
	}
	s.mu.Unlock()
}

// isDot reports whether name is "." or "..", which are never cached: ".."
// depends on where the directory is, not on its contents.
func isDot(name string) bool { return name == "." || name == ".." }

// Lookup returns the cached LOOKUP result for name in dir. It is valid
// while dir's attributes are fresh and dir has not changed (as seen by
// PutAttr or ApplyWcc) since the entry was stored.
func (c *Cache) Lookup(dir []byte, name string) (e NameEntry, ok bool) {
	return c.lookup(dir, name, true)
}

// LookupStale is Lookup without the freshness requirement: the entry is
// returned while dir has not been seen to change, however old its
// attributes. It is for serving while the upstream is unreachable.
func (c *Cache) LookupStale(dir []byte, name string) (e NameEntry, ok bool) {
	return c.lookup(dir, name, false)
}

func (c *Cache) lookup(dir []byte, name string, wantFresh bool) (e NameEntry, ok bool) {
	gen, fresh := c.dirGen(dir, wantFresh, nil)
	if fresh && !isDot(name) {
		s := c.nameShard(dir, name)
		s.mu.Lock()
		if ne := s.m[nameKey{string(dir), name}]; ne != nil {
			switch {
			case ne.gen == gen:
				s.lru.moveToFront(ne)
				e, ok = NameEntry{FH: ne.fh, Negative: ne.negative()}, true
			case ne.gen < gen:
				s.removeLocked(ne, &c.ctr) // stored for an older version of dir
			}
		}
		s.mu.Unlock()
	}
	switch {
	case !ok:
		c.ctr.nameMisses.Add(1)
	case e.Negative:
		c.ctr.negativeHits.Add(1)
	default:
		c.ctr.nameHits.Add(1)
	}
	return e, ok
}

// NameHint returns the handle name in dir was last recorded to lead to
// (by a LOOKUP, CREATE or LINK reply through this cache), however old the
// record and whether or not dir changed since. It is a hint for the upkeep
// after a REMOVE or RENAME through the proxy (which object loses a name),
// never an answer to a LOOKUP: a name changed by someone else since may
// lead elsewhere now, and the object it leads to then keeps its cached
// attributes until they expire, as for any change made elsewhere. Every
// change made through the proxy updates the record (PutName, ForgetName,
// PutNegative), so for those the hint is exact even when concurrent
// changes of dir made its attributes (and so its fresh names) unusable.
// Absent names and names never recorded return false.
func (c *Cache) NameHint(dir []byte, name string) (fh []byte, ok bool) {
	if isDot(name) {
		return nil, false
	}
	s := c.nameShard(dir, name)
	s.mu.Lock()
	if ne := s.m[nameKey{string(dir), name}]; ne != nil && !ne.negative() {
		fh, ok = append([]byte(nil), ne.fh...), true
	}
	s.mu.Unlock()
	return fh, ok
}

// PutName records a positive LOOKUP result: name in dir is fh. It is
// stored against dir's current cached attributes, so record the reply's
// directory attributes (PutPostOp) first, and the object's too so that
// Invalidate(fh) can find this name; without cached attributes for dir,
// nothing is stored. "." and ".." are not cached. For a LOOKUP reply,
// PutLookup does all of this and closes a race with concurrent replies.
func (c *Cache) PutName(dir []byte, name string, fh []byte) {
	if k, ok := c.putName(dir, name, fh, false, nil); ok {
		c.addParent(fh, k)
	}
}

// PutNegative records that name does not exist in dir (NOENT), like
// PutName.
func (c *Cache) PutNegative(dir []byte, name string) {
	c.putName(dir, name, nil, true, nil)
}

// PutLookup records a LOOKUP reply for name in dir: its directory and
// object attributes (PutPostOp), and the name, positive for NFS3_OK and
// negative for NFS3ERR_NOENT. When the reply carries the directory's
// attributes, the name is stored only if they are still the cached
// version, so a reply that raced with a change of the directory cannot
// be stored against the new version. Other statuses record only the
// attributes.
func (c *Cache) PutLookup(dir []byte, name string, res *nfs3.LookupRes) {
	c.PutPostOp(dir, res.DirAttr)
	var version *nfs3.Fattr3
	if res.DirAttr.Set {
		version = &res.DirAttr.Attr
	}
	switch res.Status {
	case nfs3.StatOK:
		if len(res.Object) == 0 {
			return
		}
		c.PutPostOp(res.Object, res.ObjAttr)
		if k, ok := c.putName(dir, name, res.Object, false, version); ok {
			c.addParent(res.Object, k)
		}
	case nfs3.StatNoEnt:
		c.putName(dir, name, nil, true, version)
	}
}

// putName stores a name in dir against dir's current names generation;
// with a version, only if dir's cached attributes are that version.
func (c *Cache) putName(dir []byte, name string, fh []byte, negative bool, version *nfs3.Fattr3) (nameKey, bool) {
	if isDot(name) || (!negative && len(fh) == 0) {
		return nameKey{}, false
	}
	gen, ok := c.dirGen(dir, false, version)
	if !ok {
		return nameKey{}, false
	}
	s := c.nameShard(dir, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[nameKey{string(dir), name}]
	if e != nil {
		if e.gen > gen {
			// The directory changed after we read its generation and
			// a newer result is already cached.
			return nameKey{}, false
		}
		s.lru.moveToFront(e)
	} else {
		e = &nameEntry{key: nameKey{string(dir), name}}
		s.lru.pushFront(e)
		s.m[e.key] = e
		c.ctr.nameEntries.Add(1)
		for len(s.m) > s.max {
			s.removeLocked(s.lru.last(), &c.ctr)
			c.ctr.nameEvictions.Add(1)
		}
	}
	e.gen = gen
	if negative {
		e.fh = nil
	} else if string(e.fh) != string(fh) {
		e.fh = append([]byte(nil), fh...)
	}
	return e.key, true
}

// ForgetName drops the cached LOOKUP result for name in dir: our own
// REMOVE, RENAME, CREATE... touched it.
func (c *Cache) ForgetName(dir []byte, name string) {
	s := c.nameShard(dir, name)
	s.mu.Lock()
	if e := s.m[nameKey{string(dir), name}]; e != nil {
		s.removeLocked(e, &c.ctr)
	}
	s.mu.Unlock()
}
