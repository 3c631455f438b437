package cache

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"

	"context"
	"errors"
	"fmt"
	"io"
)

// ReadAt fills p from offset off of the object (vol, fh) whose current
// upstream coherency data is coh, and returns how many bytes it filled:
// short only at coh.Size, or where the upstream ended early. Cached
// granules are served once their CRC32C checks out; missing ones are
// fetched in whole aligned granules (one fetch per granule however many
// readers want it), stored and served. An object whose record does not
// match coh is invalidated first. Cache trouble of any kind degrades to
// fetching; the only errors are the Fetcher's (and ctx's).
func (s *Store) ReadAt(ctx context.Context, vol VolumeKey, fh []byte, coh Coherency, p []byte, off int64, fetch Fetcher) (int, error) {
	n, _, err := s.ReadAtFrom(ctx, vol, fh, coh, p, off, fetch)
	return n, err
}

// ReadAtFrom is ReadAt that also says how many of the n bytes came from
// the upstream (fetched now, or by a fetch this read waited for) rather
// than from the cache: 0 is a hit, n a miss, in between a partial hit, as
// Stats and VolumeStats count them.
//
// When the file changed under a fetch (the Fetcher's error is a Changed),
// the n bytes are that fetch's, of the new version, and the error is
// returned with them so the caller can say which version they are; they
// are not stored. Bytes of the version asked for are never followed by
// bytes of another: a change met after the first granule ends the read
// short, without error.
func (s *Store) ReadAtFrom(ctx context.Context, vol VolumeKey, fh []byte, coh Coherency, p []byte, off int64, fetch Fetcher) (n, fromUpstream int, err error) {
	if off < 0 {
		return 0, 0, fmt.Errorf("cache: read at %d: negative offset", off)
	}
	if len(p) == 0 || uint64(off) >= coh.Size {
		return 0, 0, nil
	}
	if rest := coh.Size - uint64(off); uint64(len(p)) > rest {
		p = p[:rest]
	}
	if !s.enter() {
		return s.readThrough(ctx, vol.ID, nil, coh, p, off, fetch)
	}
	defer s.leave()
	s.ctr.lookups.Add(1)
	o := s.acquireFor(vol, fh, coh)
	if o != nil {
		// Before serving: the readahead's fetches overlap this read's.
		s.readahead(o, coh, off, len(p), fetch)
	}
	n, fromUpstream, err = s.readThrough(ctx, vol.ID, o, coh, p, off, fetch)
	if o != nil {
		s.release(o)
	}
	return n, fromUpstream, err
}

// acquireFor acquires (vol, fh), creating it if needed, and makes sure
// its record describes coh: an empty object adopts coh, any other is
// replaced by an empty one.
func (s *Store) acquireFor(vol VolumeKey, fh []byte, coh Coherency) *object {
	o := s.acquire(vol, fh, true, coh)
	if o == nil {
		return nil
	}
	o.mu.Lock()
	if version.Same(o.rec.coh, coh) {
		o.mu.Unlock()
		o.touch()
		return o
	}
	if o.emptyLocked() {
		o.rec.coh = coh
		o.gen.Add(1)
		o.mu.Unlock()
		s.markDirty(o)
		o.touch()
		return o
	}
	o.mu.Unlock()
	s.ctr.invalidations.Add(1)
	return s.replace(o, coh, true)
}

// emptyLocked reports whether o holds nothing worth a new inode: no
// granule, no fetch in flight, no stale data in the file.
func (o *object) emptyLocked() bool {
	return !o.dead && o.rec.cmap.count == 0 && len(o.flights) == 0 && !o.stale
}

// readThrough serves p granule by granule, from the cache where it can
// (o may be nil: pure pass-through), counting it for volume id.
func (s *Store) readThrough(ctx context.Context, id uint16, o *object, coh Coherency, p []byte, off int64, fetch Fetcher) (done, fromUp int, err error) {
	shift := s.shift
	var fromCache int
	// Granules this read found missing and prefetched in parallel (bit
	// i: granule first+1+i) count as upstream bytes even if the prefetch
	// stored them before we got there.
	var first int64 = -1
	var mine uint64
	for done < len(p) {
		pos := off + int64(done)
		g := pos >> shift
		gLen := granuleLen(coh.Size, g, shift)
		in := int(pos - g<<shift)
		dst := p[done:min(len(p), done+gLen-in)]
		prefetched := first >= 0 && g > first && g-first <= 64 && mine&(1<<(g-first-1)) != 0
		if o != nil && s.readCached(o, coh, g, gLen, in, dst) {
			if prefetched {
				fromUp += len(dst)
			} else {
				fromCache += len(dst)
			}
			done += len(dst)
			continue
		}
		if first < 0 && o != nil {
			first = g
			mine = s.prefetchRest(o, coh, g, (off+int64(len(p))-1)>>shift, fetch)
		}
		var n int
		var cached bool
		n, cached, err = s.fill(ctx, o, coh, g, gLen, in, dst, fetch)
		if done > 0 && isChanged(err) {
			// The bytes so far are of the version asked for, these of
			// a newer one: one reply holds one version, so the read
			// ends short before them (the next meets the new version).
			n, err = 0, nil
		}
		if cached && !prefetched {
			fromCache += n
		} else {
			fromUp += n
		}
		done += n
		if err != nil || n < len(dst) {
			break
		}
	}
	s.countRead(id, fromCache, fromUp)
	return done, fromUp, err
}

// prefetchRest starts fetches of the missing granules in (g, last], so a
// long read waits for one round trip rather than one per granule. Bit i
// of the result says granule g+1+i was started.
func (s *Store) prefetchRest(o *object, coh Coherency, g, last int64, fetch Fetcher) uint64 {
	last = min(last, g+64)
	var want uint64
	o.mu.Lock()
	for h := g + 1; h <= last; h++ {
		if !o.rec.cmap.has(h) && o.flights[h] == nil {
			want |= 1 << (h - g - 1)
		}
	}
	o.mu.Unlock()
	var started uint64
	for h := g + 1; h <= last; h++ {
		if bit := uint64(1) << (h - g - 1); want&bit != 0 {
			if !s.prefetch(o, coh, h, fetch, false) {
				break
			}
			started |= bit
		}
	}
	return started
}

func (s *Store) countRead(id uint16, fromCache, fromUp int) {
	v := s.volumeCounters(id)
	s.ctr.bytesFromCache.Add(uint64(fromCache))
	s.ctr.bytesFromUpstream.Add(uint64(fromUp))
	v.bytesFromCache.Add(uint64(fromCache))
	v.bytesFromUpstream.Add(uint64(fromUp))
	v.lookups.Add(1)
	switch {
	case fromUp == 0:
		s.ctr.hits.Add(1)
		v.hits.Add(1)
	case fromCache == 0:
		s.ctr.misses.Add(1)
		v.misses.Add(1)
	default:
		s.ctr.partialHits.Add(1)
		v.partialHits.Add(1)
	}
}

// readCached copies bytes [in, in+len(dst)) of granule g from the cache
// into dst if the granule is present and its bytes check out. A granule
// that fails (I/O error, short file, bad CRC) is dropped and reported as
// a miss.
func (s *Store) readCached(o *object, coh Coherency, g int64, gLen, in int, dst []byte) bool {
	o.mu.Lock()
	if !version.Same(o.rec.coh, coh) {
		o.mu.Unlock()
		return false
	}
	crc, ok, verified := o.rec.cmap.lookup(g)
	gen := o.gen.Load()
	o.mu.Unlock()
	if !ok {
		return false
	}
	gOff := g << s.shift
	var err error
	switch {
	case verified && !s.opts.Paranoid:
		// Checked (or written by us) since the object was opened: its
		// bytes on disk are the ones its CRC was computed over, so
		// whole and partial reads alike skip re-checking (the CRC of
		// every warm 1 MiB READ was a third of its CPU). I/O errors and
		// short files still fail the read below.
		_, err = o.f.ReadAt(dst, gOff+int64(in))
	case in == 0 && len(dst) == gLen:
		if _, err = o.f.ReadAt(dst, gOff); err == nil && crc32c(dst) != crc {
			err = ErrChecksum
		}
	default:
		buf := s.getBuf()
		b := (*buf)[:gLen]
		if _, err = o.f.ReadAt(b, gOff); err == nil && crc32c(b) != crc {
			err = ErrChecksum
		}
		copy(dst, b[in:])
		s.putBuf(buf)
	}
	if o.gen.Load() != gen {
		return false // rewritten under us: what we read proves nothing
	}
	if err == nil {
		if !verified {
			o.mu.Lock()
			o.rec.cmap.setVerified(g, crc)
			o.mu.Unlock()
		}
		return true
	}
	s.dropGranule(o, g, crc, gen, err)
	return false
}

// dropGranule forgets granule g (if it is still the one that failed) so
// it is fetched and stored again.
func (s *Store) dropGranule(o *object, g int64, crc uint32, gen uint64, err error) {
	if errors.Is(err, ErrChecksum) || errors.Is(err, io.EOF) {
		s.ctr.checksumFailures.Add(1)
		s.log.Warn("cache: granule failed its checksum, refetching", "volume", o.v.dir,
			"fh", handleName([]byte(o.fh)), "granule", g, "err", err)
	} else {
		s.ioError("read", o, err)
	}
	o.mu.Lock()
	dropped := false
	var n int
	if c, ok, _ := o.rec.cmap.lookup(g); ok && c == crc && o.gen.Load() == gen && !o.dead {
		n = granuleLen(o.rec.coh.Size, g, s.shift)
		dropped = o.rec.cmap.clear(g)
	}
	o.mu.Unlock()
	if dropped {
		s.addSize(o.ent, -int64(n))
		s.markDirty(o)
	}
}
