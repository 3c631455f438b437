package coherency

import (
	"sync"
	"unsafe"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// listKey names one page of a directory listing: the arguments that
// produced it.
type listKey struct {
	plus               bool
	cookie             uint64
	verf               [nfs3.CookieVerfSize]byte
	dircount, maxcount uint32
}

func plusKey(a *nfs3.ReaddirplusArgs) listKey {
	return listKey{plus: true, cookie: a.Cookie, verf: a.CookieVerf, dircount: a.DirCount, maxcount: a.MaxCount}
}

func readdirKey(a *nfs3.ReaddirArgs) listKey {
	return listKey{cookie: a.Cookie, verf: a.CookieVerf, maxcount: a.Count}
}

// page is one stored reply, a deep copy never modified once stored.
// Exactly one of plus and rd is set.
type page struct {
	plus *nfs3.ReaddirplusRes
	rd   *nfs3.ReaddirRes
	size int64 // estimated memory, including the table's overhead
}

// dirPages are the pages of one directory, all stored under one listing
// generation of it.
type dirPages struct {
	dir   string
	lgen  uint64
	pages map[listKey]*page
	bytes int64
	lru   lruLinks[dirPages]
}

func (d *dirPages) links() *lruLinks[dirPages] { return &d.lru }

// listings is the volume's one table of listing pages.
type listings struct {
	maxDirs  int   // set once by init
	maxBytes int64 // set once by init

	// mu guards dirs, lru, bytes and every dirPages in them.
	mu    sync.Mutex
	dirs  map[string]*dirPages
	lru   lruList[dirPages, *dirPages]
	bytes int64
}

func (l *listings) init(maxDirs int, maxBytes int64) {
	l.maxDirs, l.maxBytes = maxDirs, maxBytes
	l.dirs = make(map[string]*dirPages)
	l.lru.init()
}

func (l *listings) clear(ctr *counters) {
	l.mu.Lock()
	for _, dp := range l.dirs {
		l.removeLocked(dp, ctr)
	}
	l.mu.Unlock()
}

func (l *listings) removeLocked(dp *dirPages, ctr *counters) {
	delete(l.dirs, dp.dir)
	l.lru.remove(dp)
	l.bytes -= dp.bytes
	ctr.listingEntries.Add(-1)
	ctr.listingPages.Add(-int64(len(dp.pages)))
	ctr.listingBytes.Add(-dp.bytes)
}

func (l *listings) removePageLocked(dp *dirPages, k listKey, p *page, ctr *counters) {
	delete(dp.pages, k)
	dp.bytes -= p.size
	l.bytes -= p.size
	ctr.listingPages.Add(-1)
	ctr.listingBytes.Add(-p.size)
}

// drop forgets the pages of dir.
func (l *listings) drop(dir []byte, ctr *counters) {
	l.mu.Lock()
	if dp := l.dirs[string(dir)]; dp != nil {
		l.removeLocked(dp, ctr)
	}
	l.mu.Unlock()
}

// get returns the page k of dir stored under listing generation lgen.
func (l *listings) get(dir []byte, k listKey, lgen uint64, ctr *counters) *page {
	var p *page
	l.mu.Lock()
	if dp := l.dirs[string(dir)]; dp != nil {
		switch {
		case dp.lgen == lgen:
			if p = dp.pages[k]; p != nil {
				l.lru.moveToFront(dp)
			}
		case dp.lgen < lgen:
			l.removeLocked(dp, ctr) // stored for an older version of dir
		}
	}
	l.mu.Unlock()
	return p
}

// put stores p as page k of dir under listing generation lgen, evicting
// the least recently used directories beyond the bounds.
func (l *listings) put(dir []byte, k listKey, lgen uint64, p *page, ctr *counters) {
	if p.size > l.maxBytes {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dp := l.dirs[string(dir)]
	if dp != nil && dp.lgen != lgen {
		if dp.lgen > lgen {
			return // dir changed since lgen was read; newer pages are here
		}
		l.removeLocked(dp, ctr)
		dp = nil
	}
	if dp == nil {
		dp = &dirPages{dir: string(dir), lgen: lgen, pages: make(map[listKey]*page)}
		l.lru.pushFront(dp)
		l.dirs[dp.dir] = dp
		ctr.listingEntries.Add(1)
	} else {
		l.lru.moveToFront(dp)
	}
	if old := dp.pages[k]; old != nil {
		l.removePageLocked(dp, k, old, ctr)
	}
	dp.pages[k] = p
	dp.bytes += p.size
	l.bytes += p.size
	ctr.listingPages.Add(1)
	ctr.listingBytes.Add(p.size)

	for len(l.dirs) > l.maxDirs || l.bytes > l.maxBytes {
		back := l.lru.last()
		if back == dp {
			// dp alone is over the bound: keep only the new page,
			// which fits.
			for k2, p2 := range dp.pages {
				if k2 != k {
					l.removePageLocked(dp, k2, p2, ctr)
				}
			}
			ctr.listingEvict.Add(1)
			break
		}
		l.removeLocked(back, ctr)
		ctr.listingEvict.Add(1)
	}
}

// Memory estimates for listing pages.
const (
	pageOverhead  = int64(unsafe.Sizeof(page{})+unsafe.Sizeof(listKey{})) + 64 // + map slot
	plusResSize   = int64(unsafe.Sizeof(nfs3.ReaddirplusRes{}))
	plusEntrySize = int64(unsafe.Sizeof(nfs3.DirEntryPlus{}))
	rdResSize     = int64(unsafe.Sizeof(nfs3.ReaddirRes{}))
	rdEntrySize   = int64(unsafe.Sizeof(nfs3.DirEntry{}))
)

// copyPlus returns a deep copy of r: its own entries and handle bytes.
// Names are strings, which are immutable and shared.
func copyPlus(r *nfs3.ReaddirplusRes) *nfs3.ReaddirplusRes {
	c := *r
	c.Entries = nil
	if r.Entries == nil {
		return &c
	}
	c.Entries = make([]nfs3.DirEntryPlus, len(r.Entries))
	copy(c.Entries, r.Entries)
	n := 0
	for i := range r.Entries {
		n += len(r.Entries[i].FH.FH)
	}
	buf := make([]byte, 0, n)
	for i := range c.Entries {
		e := &c.Entries[i]
		if e.FH.FH == nil {
			continue
		}
		off := len(buf)
		buf = append(buf, e.FH.FH...)
		e.FH.FH = buf[off:len(buf):len(buf)]
	}
	return &c
}

func plusSize(r *nfs3.ReaddirplusRes) int64 {
	n := pageOverhead + plusResSize + int64(len(r.Entries))*plusEntrySize
	for i := range r.Entries {
		n += int64(len(r.Entries[i].Name) + len(r.Entries[i].FH.FH))
	}
	return n
}

// copyReaddir returns a copy of r with its own entries.
func copyReaddir(r *nfs3.ReaddirRes) *nfs3.ReaddirRes {
	c := *r
	if r.Entries != nil {
		c.Entries = append([]nfs3.DirEntry(nil), r.Entries...)
	}
	return &c
}

func readdirSize(r *nfs3.ReaddirRes) int64 {
	n := pageOverhead + rdResSize + int64(len(r.Entries))*rdEntrySize
	for i := range r.Entries {
		n += int64(len(r.Entries[i].Name))
	}
	return n
}

// dirVersion returns the directory attributes a reply carries, if any:
// what it is stored against must still be that version.
func dirVersion(p nfs3.PostOpAttr) *nfs3.Fattr3 {
	if !p.Set {
		return nil
	}
	return &p.Attr
}

// Readdirplus returns a copy of the stored reply to a READDIRPLUS of dir
// with the same cookie, cookie verifier, dircount and maxcount, if dir's
// attributes are fresh and dir has not changed since it was stored. Its
// dir_attributes are the cached ones; an entry's attributes are replaced
// by the cached attributes of its handle when those have a later ctime.
// The result is the caller's to modify.
func (c *Cache) Readdirplus(dir []byte, args *nfs3.ReaddirplusArgs) (*nfs3.ReaddirplusRes, bool) {
	var p *page
	lgen, dattr, ok := c.dirState(dir, nil)
	if ok {
		p = c.listings.get(dir, plusKey(args), lgen, &c.ctr)
	}
	if p == nil || p.plus == nil {
		c.ctr.listingMisses.Add(1)
		return nil, false
	}
	res := copyPlus(p.plus)
	res.DirAttr = nfs3.PostOpAttr{Set: true, Attr: dattr}
	for i := range res.Entries {
		e := &res.Entries[i]
		if !e.FH.Set {
			continue
		}
		fileid := e.FileID
		if e.Attr.Set {
			fileid = e.Attr.Attr.FileID
		}
		// An entry's attributes are served only while the attribute cache
		// holds them fresh (the page's own copy may be as old as the
		// directory's last change). If one is not, the page is a miss: one
		// READDIRPLUS upstream refreshes them all, where serving the page
		// without them would make the client GETATTR every entry.
		a, ok := c.freshAttrOf(e.FH.FH, fileid)
		if !ok {
			c.ctr.listingMisses.Add(1)
			return nil, false
		}
		e.Attr = nfs3.PostOpAttr{Set: true, Attr: a}
	}
	c.ctr.listingHits.Add(1)
	return res, true
}

// PutReaddirplus records a READDIRPLUS reply for dir (args.Dir is ignored;
// dir is the upstream handle). It records the reply's dir_attributes
// (PutPostOp) and, for a successful reply, each entry's attributes
// (PutAttr) and name (as PutName, but not "." and ".."), and stores a deep
// copy of the reply as the page for args. Names and the page are stored
// only if dir's cached attributes are fresh and, when the reply carries
// dir_attributes, still that version (so a reply racing with a change of
// dir is not stored against the new version).
func (c *Cache) PutReaddirplus(dir []byte, args *nfs3.ReaddirplusArgs, res *nfs3.ReaddirplusRes) {
	c.PutPostOp(dir, res.DirAttr)
	if res.Status != nfs3.StatOK {
		return
	}
	for i := range res.Entries {
		if e := &res.Entries[i]; e.FH.Set && e.Attr.Set && len(e.FH.FH) > 0 {
			c.PutAttr(e.FH.FH, e.Attr.Attr)
		}
	}
	version := dirVersion(res.DirAttr)
	for i := range res.Entries {
		if e := &res.Entries[i]; e.FH.Set && len(e.FH.FH) > 0 {
			if k, ok := c.putName(dir, e.Name, e.FH.FH, false, version); ok {
				c.addParent(e.FH.FH, k)
			}
		}
	}
	lgen, _, ok := c.dirState(dir, version)
	if !ok {
		return
	}
	p := &page{plus: copyPlus(res), size: plusSize(res)}
	c.listings.put(dir, plusKey(args), lgen, p, &c.ctr)
}

// Readdir is Readdirplus for READDIR (keyed by cookie, cookie verifier
// and count). Its dir_attributes are the cached ones.
func (c *Cache) Readdir(dir []byte, args *nfs3.ReaddirArgs) (*nfs3.ReaddirRes, bool) {
	var p *page
	lgen, dattr, ok := c.dirState(dir, nil)
	if ok {
		p = c.listings.get(dir, readdirKey(args), lgen, &c.ctr)
	}
	if p == nil || p.rd == nil {
		c.ctr.listingMisses.Add(1)
		return nil, false
	}
	res := copyReaddir(p.rd)
	res.DirAttr = nfs3.PostOpAttr{Set: true, Attr: dattr}
	c.ctr.listingHits.Add(1)
	return res, true
}

// PutReaddir records a READDIR reply for dir: its dir_attributes
// (PutPostOp) and, for a successful reply, a copy of it as the page for
// args, on the same conditions as PutReaddirplus.
func (c *Cache) PutReaddir(dir []byte, args *nfs3.ReaddirArgs, res *nfs3.ReaddirRes) {
	c.PutPostOp(dir, res.DirAttr)
	if res.Status != nfs3.StatOK {
		return
	}
	lgen, _, ok := c.dirState(dir, dirVersion(res.DirAttr))
	if !ok {
		return
	}
	p := &page{rd: copyReaddir(res), size: readdirSize(res)}
	c.listings.put(dir, readdirKey(args), lgen, p, &c.ctr)
}
