package cache

import "github.com/nfscacheproxy/nfscacheproxy/internal/version"

// Span is a run of cached bytes that a caller sends straight from the
// cache file to a socket (sendfile), so a warm READ's payload is copied
// neither into the proxy's memory nor out of it. It keeps its object, and
// so the descriptor, open until Release.
//
// The bytes are those of the version ReadSpan was asked for when it
// returned. A WRITE through the proxy that rewrites those granules while
// the span is being sent can show through, as on any NFS server a READ
// that overlaps a concurrent WRITE may return bytes of both; a change
// made elsewhere never does, since it replaces the object's file and the
// span reads the file it was opened on.
type Span struct {
	FD  int   // the cache file's descriptor, valid until Release
	Off int64 // where the bytes start in it
	N   int   // how many
	o   *object
}

// Release lets the object go; the span must not be used after it.
func (sp *Span) Release() {
	if sp.o != nil {
		sp.o.s.release(sp.o)
		sp.o = nil
	}
}

// fder is a File with a descriptor of its own (OSFS's); other file
// systems (the fault-injecting one) serve no spans.
type fder interface{ Fd() int }

// ReadSpan returns bytes [off, off+n) of (vol, fh) at version coh as a
// Span of the cache file, when every granule they cover is present, of
// that version, and checked (or written by this process) since the
// object was opened (so the object is open: ReadSpan never touches the
// disk); Options.Paranoid turns spans off, since it checks every read.
// ok false means: use ReadAt, which opens, fetches, checks and copies. n must end within coh.Size. A span counts as a hit, and its
// read feeds readahead like any other.
func (s *Store) ReadSpan(vol VolumeKey, fh []byte, coh Coherency, off int64, n int, fetch Fetcher) (sp Span, ok bool) {
	if s.opts.Paranoid || off < 0 || n <= 0 || uint64(off)+uint64(n) > coh.Size || !s.enter() {
		return Span{}, false
	}
	defer s.leave()
	o := s.acquireOpen(vol, fh)
	if o == nil {
		return Span{}, false
	}
	f, isFD := o.f.(fder)
	o.mu.Lock()
	ok = isFD && !o.dead && version.Same(o.rec.coh, coh)
	for g := off >> s.shift; ok && g <= (off+int64(n)-1)>>s.shift; g++ {
		_, present, verified := o.rec.cmap.lookup(g)
		ok = present && verified
	}
	o.mu.Unlock()
	if !ok {
		s.release(o)
		return Span{}, false
	}
	s.ctr.lookups.Add(1)
	o.touch()
	s.readahead(o, coh, off, n, fetch)
	s.countRead(vol.ID, n, 0)
	return Span{FD: f.Fd(), Off: off, N: n, o: o}, true
}
