package coherency

import (
	"sync"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"
)

// Writes without pre-operation attributes.
//
// An upstream may omit the pre-op attributes of a WRITE's WCC data
// (nfs-ganesha always does). Without them ApplyWcc cannot tell our write
// from somebody else's and drops everything, so every write through the
// proxy would cost the file's cached data. BeginWrite and EndWrite do what
// the Linux client does then (nfs_post_op_update_inode_force_wcc): the
// cached attributes stand in for the missing pre-op ones, if they are
// valid under the volume's mode and the reply fits our write alone:
//
//   - they were cached and fresh when the write was sent, and are
//     unchanged when its reply is handled (nothing the proxy saw in
//     between, e.g. a cto GETATTR, showed another change);
//   - no other WRITE to the same handle was in flight through the proxy at
//     any time during this one (replies of concurrent writes may be handled
//     in another order than the upstream applied them, so neither one's
//     cached attributes are its pre-op attributes);
//   - the reply is OK, carries post-op attributes of the same file and
//     type, its size is exactly max(old size, offset+count) and neither
//     mtime nor ctime went backwards.
//
// A WRITE reply without pre-op attributes for which they cannot stand in
// leaves the attributes expired (AfterChange, expireAttr): adopting its
// post-op ones as fresh could cache an older version than a concurrent
// write's, handled earlier, and that version could then stand in for a
// later write it does not precede. The write ends (finishWrite) only after its reply's
// attributes are cached, so a write sent after it finds them.
//
// The trade-off: a change by another client of the upstream made after
// the attributes were last validated and before the write, which leaves
// the size as our write alone would leave it (an overwrite inside the
// file), is not seen: the cached data keep the old bytes of its range
// until the file changes again in a way the proxy notices. The Linux
// client has the same blind spot. In cto mode every open revalidates, so
// a change made before an open is seen; one made between two writes of an
// open file is what close-to-open does not promise either.

// writeTable tracks the WRITEs in flight through the proxy, per handle.
type writeTable struct {
	// mu guards m and every writeEntry in it.
	mu sync.Mutex
	m  map[string]*writeEntry
}

// writeEntry is one handle's writes in flight.
type writeEntry struct {
	inflight int
	// shared: another write was in flight together with one of these;
	// reset when inflight drops to zero (the entry is deleted).
	shared bool
}

// WriteToken is what BeginWrite hands to EndWrite.
type WriteToken struct {
	fh     string
	base   nfs3.Fattr3 // cached attributes when the write was sent
	baseOK bool        // base was cached and fresh
	e      *writeEntry
}

// BeginWrite records that a WRITE to fh is being sent upstream; every
// BeginWrite must be followed by one EndWrite with its token.
func (c *Cache) BeginWrite(fh []byte) WriteToken {
	t := WriteToken{fh: string(fh)}
	t.base, t.baseOK, _ = c.peekAttr(fh)
	c.writes.mu.Lock()
	if c.writes.m == nil {
		c.writes.m = make(map[string]*writeEntry)
	}
	e := c.writes.m[t.fh]
	if e == nil {
		e = &writeEntry{}
		c.writes.m[t.fh] = e
	}
	e.inflight++
	if e.inflight > 1 {
		e.shared = true
	}
	t.e = e
	c.writes.mu.Unlock()
	return t
}

// EndWrite records the reply of the write t stands for (status st, count
// bytes written at off, WCC data w). If w has no pre-op attributes and the
// cached ones may stand in for them (see above), it sets w.Before to them
// and reports true: the caller then handles w as if the upstream had sent
// them (ApplyWcc keeps the cache, the data cache applies the write).
// Otherwise w is left alone. AfterChange calls it for a WRITE.
func (c *Cache) EndWrite(t WriteToken, st nfs3.Stat, off uint64, count uint32, w *nfs3.WccData) (standIn bool) {
	standIn = c.standIn(t, st, off, count, w)
	c.finishWrite(t)
	return standIn
}

// standIn is EndWrite without ending the write: AfterChange ends it only
// once the reply's attributes are in the cache, so a write sent after
// this one ended finds them as its base.
func (c *Cache) standIn(t WriteToken, st nfs3.Stat, off uint64, count uint32, w *nfs3.WccData) bool {
	c.writes.mu.Lock()
	alone := !t.e.shared
	c.writes.mu.Unlock()
	if w.Before.Set || !w.After.Set || st != nfs3.StatOK || !alone || !t.baseOK {
		return false
	}
	now, _, ok := c.peekAttr([]byte(t.fh))
	if !ok || !sameVersion(&now, &t.base) || !writeFits(&t.base, &w.After.Attr, off, count) {
		return false
	}
	w.Before = nfs3.PreOpAttr{Set: true, Attr: nfs3.WccAttr{Size: t.base.Size, Mtime: t.base.Mtime, Ctime: t.base.Ctime}}
	c.ctr.wccStandIns.Add(1)
	return true
}

// finishWrite ends the write t stands for.
func (c *Cache) finishWrite(t WriteToken) {
	c.writes.mu.Lock()
	t.e.inflight--
	if t.e.inflight == 0 {
		delete(c.writes.m, t.fh)
	}
	c.writes.mu.Unlock()
}

// expireAttr records the post-op attributes p of a WRITE nothing could
// stand in for, without making them fresh: the next use revalidates.
// They replace the cached ones only when newer (by ctime), and they stay
// cached, so that a reply produced before them and handled later does not
// roll the cache back (PutAttr): such an older version could otherwise
// stand in for the pre-op attributes of a later write it does not
// precede.
func (c *Cache) expireAttr(fh []byte, p nfs3.PostOpAttr) {
	s := c.attrShard(fh)
	now := c.now()
	s.mu.Lock()
	n := s.nodes[string(fh)]
	switch {
	case n == nil && p.Set:
		n = c.insertLocked(s, fh, &p.Attr, now)
	case n == nil:
	case p.Set && (n.attr.FileID != p.Attr.FileID || !laterTime(n.attr.Ctime, p.Attr.Ctime)) && !sameVersion(&n.attr, &p.Attr):
		c.resetLocked(n, &p.Attr, now)
	}
	if n != nil {
		n.expired = true
	}
	s.mu.Unlock()
}

// writeFits reports whether after can be the attributes of the file whose
// attributes were before, changed by writing count bytes at off and by
// nothing else that shows in its size or times.
func writeFits(before, after *nfs3.Fattr3, off uint64, count uint32) bool {
	return after.Type == before.Type && version.Written(version.Of(before), version.Of(after), off, count)
}

// peekAttr is Attr without touching the LRU or the hit counters.
func (c *Cache) peekAttr(fh []byte) (a nfs3.Fattr3, fresh, ok bool) {
	s := c.attrShard(fh)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil {
		a, fresh, ok = n.attr, c.freshLocked(n, now), true
	}
	s.mu.Unlock()
	return a, fresh, ok
}
