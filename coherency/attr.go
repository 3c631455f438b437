package coherency

import (
	"sync"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"
)

// maxParents is how many names leading to an object it remembers, so that
// Invalidate can drop them.
const maxParents = 4

// node is one object's cached attributes and what hangs off them.
type node struct {
	fh   string
	attr nfs3.Fattr3
	// validated is when attr last came from the upstream; attr is fresh
	// until validated+ttl. ttl was last adapted at ttlSince.
	validated, ttlSince stamp
	ttl                 time.Duration
	// gen validates the names cached in this directory, lgen its listing
	// pages; both come from Cache.newGen.
	gen, lgen uint64

	access []accessEntry // at most maxAccess
	link   string        // READLINK target, if hasLink
	// expired: attr is the latest version known but not fresh in any
	// mode (a WRITE reply nothing could stand in for, expireAttr); it
	// still keeps older replies from rolling it back (PutAttr). (The
	// small fields sit together: a node is 232 bytes, in the 240-byte
	// size class.)
	expired    bool
	hasLink    bool
	accessNext uint8 // slot to replace when access is full

	parents []nameKey // last names stored for this object (a hint)
	lru     lruLinks[node]
}

func (n *node) links() *lruLinks[node] { return &n.lru }

// attrShard holds the nodes of the handles that hash to it.
type attrShard struct {
	max int // nodes kept; set once by init

	// mu guards nodes, lru and every node in them.
	mu    sync.Mutex
	nodes map[string]*node
	lru   lruList[node, *node]
}

func (s *attrShard) init(max int) {
	s.max = max
	s.nodes = make(map[string]*node)
	s.lru.init()
}

func (s *attrShard) clear(ctr *counters) {
	s.mu.Lock()
	ctr.attrEntries.Add(-int64(len(s.nodes)))
	s.nodes = make(map[string]*node)
	s.lru.init()
	s.mu.Unlock()
}

func (s *attrShard) removeLocked(n *node, ctr *counters) {
	delete(s.nodes, n.fh)
	s.lru.remove(n)
	ctr.attrEntries.Add(-1)
}

// sameVersion reports whether a and b are the same version of the same
// object (version.Same, the one rule; an object does not change type).
func sameVersion(a, b *nfs3.Fattr3) bool {
	return a.Type == b.Type && version.Same(version.Of(a), version.Of(b))
}

// laterTime reports whether a is after b.
func laterTime(a, b nfs3.Time) bool { return version.Later(a, b) }

// ttlBounds returns the TTL range for an object of type t.
func (c *Cache) ttlBounds(t nfs3.FType) (min, max time.Duration) {
	if t == nfs3.TypeDir {
		return c.opts.AcDirMin, c.opts.AcDirMax
	}
	return c.opts.AcRegMin, c.opts.AcRegMax
}

// freshNow returns the time to judge freshness by; ModeStatic needs none.
func (c *Cache) freshNow() stamp {
	if c.opts.Mode == ModeStatic {
		return 0
	}
	return c.now()
}

// freshLocked reports whether n's attributes may be served at now.
func (c *Cache) freshLocked(n *node, now stamp) bool {
	if n.expired {
		return false
	}
	if c.opts.Mode == ModeStatic {
		return true
	}
	d := now.since(n.validated)
	return d >= 0 && d < n.ttl
}

// resetLocked makes a the attributes of n, a new version of the object:
// fresh from now with the minimum TTL, new generations (so the names and
// listing pages stored for the old version are invalid), no ACCESS results
// and no READLINK target. The names leading to n stay.
func (c *Cache) resetLocked(n *node, a *nfs3.Fattr3, now stamp) {
	n.attr = *a
	n.validated, n.ttlSince, n.expired = now, now, false
	n.ttl, _ = c.ttlBounds(a.Type)
	n.gen, n.lgen = c.newGen(), c.newGen()
	n.access, n.accessNext = nil, 0
	n.link, n.hasLink = "", false
}

// insertLocked caches a as the attributes of a handle s does not hold,
// evicting the least recently used nodes beyond the bound.
func (c *Cache) insertLocked(s *attrShard, fh []byte, a *nfs3.Fattr3, now stamp) *node {
	n := &node{fh: string(fh)}
	c.resetLocked(n, a, now)
	s.lru.pushFront(n)
	s.nodes[n.fh] = n
	c.ctr.attrEntries.Add(1)
	for len(s.nodes) > s.max {
		s.removeLocked(s.lru.last(), &c.ctr)
		c.ctr.attrEvictions.Add(1)
	}
	return n
}

// Attr returns the cached attributes of fh; fresh says whether they may be
// served without asking the upstream (within their TTL; in ModeStatic,
// always). ok is false if nothing is cached.
func (c *Cache) Attr(fh []byte) (a nfs3.Fattr3, fresh bool, ok bool) {
	s := c.attrShard(fh)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil {
		s.lru.moveToFront(n)
		a, fresh, ok = n.attr, c.freshLocked(n, now), true
	}
	s.mu.Unlock()
	if fresh {
		c.ctr.attrHits.Add(1)
	} else {
		c.ctr.attrMisses.Add(1)
	}
	return a, fresh, ok
}

// PutAttr records attributes the upstream just returned for fh (in any
// reply carrying them). It is a revalidation: if fileid, type, size, mtime
// or ctime differ from the cached attributes, the object changed: the names
// and listing pages cached for it (as a directory), its ACCESS results and
// READLINK target are dropped, its TTL falls back to the minimum, and
// changed is true, telling the caller to drop the file's cached data.
// Otherwise the TTL doubles (up to the maximum) if a TTL has passed since
// it was last adapted. changed is false when nothing was cached for fh.
// Attributes of the same file with an older ctime than the cached ones,
// arriving within outOfOrderWindow of them, are ignored: they come from a
// reply produced before a change the cache has already seen.
// outOfOrderWindow bounds how long after caching attributes an older
// version is taken for a late reply rather than the upstream's new word.
const outOfOrderWindow = 2 * time.Second

func (c *Cache) PutAttr(fh []byte, a nfs3.Fattr3) (changed bool) {
	s := c.attrShard(fh)
	now := c.now()
	s.mu.Lock()
	n := s.nodes[string(fh)]
	wasDir := n != nil && n.attr.Type == nfs3.TypeDir
	switch {
	case n == nil:
		c.insertLocked(s, fh, &a, now)
	case n.attr.FileID == a.FileID && laterTime(n.attr.Ctime, a.Ctime) && now.since(n.validated) < outOfOrderWindow:
		// A reply produced before the change just cached (replies are
		// processed out of order within moments): do not roll back to
		// it. Past the window the upstream's word wins again, so a server
		// whose clock stepped back is not ignored for good.
		c.ctr.attrOutOfOrder.Add(1)
	case sameVersion(&n.attr, &a):
		if n.attr.Mode != a.Mode || n.attr.UID != a.UID || n.attr.GID != a.GID {
			n.access, n.accessNext = nil, 0 // a coarse ctime may not show a chmod
		}
		n.attr = a
		n.validated, n.expired = now, false
		if now.since(n.ttlSince) >= n.ttl {
			min, max := c.ttlBounds(a.Type)
			n.ttl = growTTL(n.ttl, min, max)
			n.ttlSince = now
		}
		s.lru.moveToFront(n)
	default:
		changed = true
		c.resetLocked(n, &a, now)
		s.lru.moveToFront(n)
	}
	s.mu.Unlock()
	if n != nil {
		c.ctr.attrRevalidations.Add(1)
	}
	if changed {
		c.ctr.attrChanged.Add(1)
		c.ctr.invalidated(CauseChanged)
		if wasDir || a.Type == nfs3.TypeDir {
			c.listings.drop(fh, &c.ctr)
		}
	}
	return changed
}

// growTTL returns the TTL after a revalidation found nothing changed:
// doubled, within [min, max].
func growTTL(ttl, min, max time.Duration) time.Duration {
	ttl = 2 * ttl
	if ttl < min {
		ttl = min
	}
	if ttl > max {
		ttl = max
	}
	return ttl
}

// PutPostOp is PutAttr for a post_op_attr; unset attributes are ignored
// and report no change.
func (c *Cache) PutPostOp(fh []byte, p nfs3.PostOpAttr) (changed bool) {
	if !p.Set {
		return false
	}
	return c.PutAttr(fh, p.Attr)
}

// ApplyWcc handles the WCC data of an operation the proxy forwarded itself
// (WRITE, SETATTR, COMMIT on fh; CREATE, REMOVE, RENAME... in directory
// fh). If Before and After are set, attributes are cached and Before
// equals their (size, mtime, ctime), the change was ours alone: After is
// adopted (fresh, minimum TTL), names cached in the directory and the
// file's cached data stay valid (the caller reports the names it changed
// with PutName, PutNegative or ForgetName), the directory's listing pages
// are dropped, ACCESS results are dropped if mode, owner or group changed,
// and ours is true. Otherwise someone else may have changed fh too: all
// cached state for it is dropped (attributes replaced by After when set,
// else forgotten; an After older by ctime than the cached attributes
// leaves those, expired, rather than rolling them back) and ours is
// false, telling the caller to drop the file's cached data.
func (c *Cache) ApplyWcc(fh []byte, w nfs3.WccData) (ours bool) {
	s := c.attrShard(fh)
	now := c.now()
	s.mu.Lock()
	n := s.nodes[string(fh)]
	// Listing pages are dropped unless fh is known not to be a directory.
	mayBeDir := (n == nil && !w.After.Set) || (n != nil && n.attr.Type == nfs3.TypeDir) ||
		(w.After.Set && w.After.Attr.Type == nfs3.TypeDir)
	if n != nil && w.Before.Set && w.After.Set && wccMatches(&n.attr, &w.Before.Attr) &&
		n.attr.FileID == w.After.Attr.FileID && n.attr.Type == w.After.Attr.Type {
		ours = true
		old := n.attr
		n.attr = w.After.Attr
		n.validated, n.ttlSince, n.expired = now, now, false
		n.ttl, _ = c.ttlBounds(n.attr.Type)
		n.lgen = c.newGen()
		if old.Mode != n.attr.Mode || old.UID != n.attr.UID || old.GID != n.attr.GID {
			n.access, n.accessNext = nil, 0
		}
		s.lru.moveToFront(n)
	} else {
		switch {
		case w.After.Set && n != nil && n.attr.FileID == w.After.Attr.FileID && laterTime(n.attr.Ctime, w.After.Attr.Ctime):
			// A reply older than the cached attributes (a concurrent
			// change's reply was handled first): do not roll back to it,
			// but do not trust the cached version either.
			a := n.attr
			c.resetLocked(n, &a, now)
			n.expired = true
			s.lru.moveToFront(n)
		case w.After.Set && n != nil:
			c.resetLocked(n, &w.After.Attr, now)
			s.lru.moveToFront(n)
		case w.After.Set:
			c.insertLocked(s, fh, &w.After.Attr, now)
		case n != nil:
			s.removeLocked(n, &c.ctr)
		}
	}
	s.mu.Unlock()
	if mayBeDir {
		c.listings.drop(fh, &c.ctr)
	}
	if ours {
		c.ctr.wccOurs.Add(1)
	} else {
		c.ctr.wccOthers.Add(1)
		c.ctr.invalidated(CauseWcc)
	}
	return ours
}

// wccMatches reports whether the pre-operation attributes w describe the
// same version as the cached a.
func wccMatches(a *nfs3.Fattr3, w *nfs3.WccAttr) bool {
	return version.Same(version.Of(a), version.Pre(a.FileID, w))
}

// Invalidate drops everything cached for fh: its attributes, the names
// and listing pages cached in it as a directory, its ACCESS results and
// READLINK target, and the names known to lead to it.
func (c *Cache) Invalidate(fh []byte, cause Cause) {
	s := c.attrShard(fh)
	var parents []nameKey
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil {
		parents = n.parents
		s.removeLocked(n, &c.ctr)
	}
	s.mu.Unlock()
	c.listings.drop(fh, &c.ctr)
	for _, k := range parents {
		c.nameShardS(k.dir, k.name).forgetIf(k, fh, &c.ctr)
	}
	c.ctr.invalidated(cause)
}

// dirGen returns the names generation of directory dir, touching it in
// the LRU. With wantFresh, ok is false unless its attributes are fresh;
// with a version, unless the cached attributes are that version.
func (c *Cache) dirGen(dir []byte, wantFresh bool, version *nfs3.Fattr3) (gen uint64, ok bool) {
	s := c.attrShard(dir)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(dir)]; n != nil && (!wantFresh || c.freshLocked(n, now)) &&
		(version == nil || sameVersion(&n.attr, version)) {
		s.lru.moveToFront(n)
		gen, ok = n.gen, true
	}
	s.mu.Unlock()
	return gen, ok
}

// dirState returns the listing generation and attributes of directory dir
// if they are fresh and, with a version, of that version.
func (c *Cache) dirState(dir []byte, version *nfs3.Fattr3) (lgen uint64, a nfs3.Fattr3, ok bool) {
	s := c.attrShard(dir)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(dir)]; n != nil && c.freshLocked(n, now) &&
		(version == nil || sameVersion(&n.attr, version)) {
		s.lru.moveToFront(n)
		lgen, a, ok = n.lgen, n.attr, true
	}
	s.mu.Unlock()
	return lgen, a, ok
}

// addParent remembers that k names fh, if fh's attributes are cached.
func (c *Cache) addParent(fh []byte, k nameKey) {
	s := c.attrShard(fh)
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil {
		found := false
		for _, p := range n.parents {
			if p == k {
				found = true
				break
			}
		}
		if !found {
			if len(n.parents) >= maxParents {
				copy(n.parents, n.parents[1:])
				n.parents = n.parents[:maxParents-1]
			}
			n.parents = append(n.parents, k)
		}
	}
	s.mu.Unlock()
}

// freshAttrOf returns fh's cached attributes if they are fresh and of the
// file fileid.
func (c *Cache) freshAttrOf(fh []byte, fileid uint64) (a nfs3.Fattr3, ok bool) {
	s := c.attrShard(fh)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil && n.attr.FileID == fileid && c.freshLocked(n, now) {
		a, ok = n.attr, true
	}
	s.mu.Unlock()
	return a, ok
}

// maxAccess is how many credentials' ACCESS results an object keeps.
const maxAccess = 8

type accessEntry struct {
	cred           rpc.CredKey
	asked, granted uint32
}
