package coherency

import "github.com/nfscacheproxy/nfscacheproxy/internal/rpc"

// Access returns the ACCESS bits granted to cred on fh, masked to want.
// ok is true only if fh's attributes are fresh, unchanged since the
// results were stored, and every bit of want was asked before.
func (c *Cache) Access(fh []byte, cred rpc.CredKey, want uint32) (granted uint32, ok bool) {
	return c.access(fh, cred, want, true)
}

// AccessStale is Access without the freshness requirement, for serving
// while the upstream is unreachable.
func (c *Cache) AccessStale(fh []byte, cred rpc.CredKey, want uint32) (granted uint32, ok bool) {
	return c.access(fh, cred, want, false)
}

func (c *Cache) access(fh []byte, cred rpc.CredKey, want uint32, wantFresh bool) (granted uint32, ok bool) {
	s := c.attrShard(fh)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil && (!wantFresh || c.freshLocked(n, now)) {
		for i := range n.access {
			if e := &n.access[i]; e.cred == cred {
				if want&^e.asked == 0 {
					granted, ok = e.granted&want, true
				}
				break
			}
		}
	}
	s.mu.Unlock()
	if ok {
		c.ctr.accessHits.Add(1)
	} else {
		c.ctr.accessMisses.Add(1)
	}
	return granted, ok
}

// PutAccess records an ACCESS reply: of the bits asked, the upstream
// granted granted. Results for other bits asked earlier are kept. Nothing
// is stored unless fh's attributes are cached; record the reply's
// post-operation attributes (PutPostOp) first.
func (c *Cache) PutAccess(fh []byte, cred rpc.CredKey, asked, granted uint32) {
	s := c.attrShard(fh)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[string(fh)]
	if n == nil {
		return
	}
	granted &= asked
	for i := range n.access {
		if e := &n.access[i]; e.cred == cred {
			e.granted = e.granted&^asked | granted
			e.asked |= asked
			return
		}
	}
	e := accessEntry{cred: cred, asked: asked, granted: granted}
	if len(n.access) < maxAccess {
		n.access = append(n.access, e)
		return
	}
	n.access[n.accessNext] = e
	n.accessNext = (n.accessNext + 1) % maxAccess
}

// Readlink returns the cached target of symbolic link fh, valid while its
// attributes are fresh and unchanged since it was stored.
func (c *Cache) Readlink(fh []byte) (target string, ok bool) {
	s := c.attrShard(fh)
	now := c.freshNow()
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil && n.hasLink && c.freshLocked(n, now) {
		target, ok = n.link, true
	}
	s.mu.Unlock()
	if ok {
		c.ctr.readlinkHits.Add(1)
	} else {
		c.ctr.readlinkMisses.Add(1)
	}
	return target, ok
}

// PutReadlink records the target of symbolic link fh. Nothing is stored
// unless fh's attributes are cached; record the reply's post-operation
// attributes (PutPostOp) first.
func (c *Cache) PutReadlink(fh []byte, target string) {
	s := c.attrShard(fh)
	s.mu.Lock()
	if n := s.nodes[string(fh)]; n != nil {
		n.link, n.hasLink = target, true
	}
	s.mu.Unlock()
}
