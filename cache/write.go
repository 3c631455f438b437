package cache

import "github.com/nfscacheproxy/nfscacheproxy/internal/version"

// WroteAt records a write the proxy just forwarded successfully. pre are
// the WCC pre-op attributes (size, mtime, ctime; FileID is taken from
// post) and post the post-op ones. If the object's record equals pre,
// nobody else changed the file: the written bytes are applied to the
// granules that are present (and granules the write covers entirely are
// added), and the record adopts post. Otherwise the object is
// invalidated. Granules only partly covered and not present stay absent.
// A file not cached yet gets an object only when it was empty before the
// write (pre.Size 0): then all it holds comes through the proxy's writes,
// and a write-then-read (a build's or render's output) is served from the
// cache without a fetch.
// It does the disk I/O (one fdatasync) before returning.
func (s *Store) WroteAt(vol VolumeKey, fh []byte, pre, post Coherency, data []byte, off int64) {
	if off < 0 || !s.enter() {
		return
	}
	defer s.leave()
	pre.FileID = post.FileID // WCC pre-op attributes carry no fileid
	o := s.acquire(vol, fh, pre.Size == 0, pre)
	if o == nil {
		return
	}
	o.mu.Lock()
	c := o.rec.coh
	match := !o.dead && version.Same(c, pre) && version.Extends(pre, post)
	if !match {
		if o.emptyLocked() {
			o.rec.coh = post
			o.gen.Add(1)
			o.mu.Unlock()
			s.markDirty(o)
			s.release(o)
			return
		}
		o.mu.Unlock()
		s.ctr.invalidations.Add(1)
		s.release(s.replace(o, post, false))
		return
	}
	jobs, dropped := s.planWrite(o, pre, post, data, off)
	gen := o.gen.Load()
	o.mu.Unlock()
	s.addSize(o.ent, -dropped)
	if len(jobs) > 0 {
		s.applyWrite(o, post, gen, jobs, data, off)
	}
	// After the granules: one record write (and fdatasync) claims them,
	// rather than one before them and another after.
	s.markDirty(o)
	s.ctr.writes.Add(1)
	s.release(o)
}

// writeJob is one granule WroteAt rewrites: present ones are read back,
// patched and rewritten; fully covered absent ones are written fresh.
type writeJob struct {
	g              int64
	oldCRC         uint32
	present        bool
	oldLen, newLen int
	crc            uint32
	ok             bool
}

// planWrite, with o.mu held, adopts post and takes every granule the
// write touches out of the map (so no reader sees old bytes under the new
// version), returning those to rewrite and the bytes dropped.
func (s *Store) planWrite(o *object, pre, post Coherency, data []byte, off int64) ([]writeJob, int64) {
	o.gen.Add(1)
	o.rec.coh = post
	end := off + int64(len(data))
	lo := off
	if pre.Size < uint64(off) {
		lo = int64(pre.Size) // the old last granule grows by zeros
	}
	if end <= lo {
		return nil, 0
	}
	var jobs []writeJob
	var dropped int64
	for g := lo >> s.shift; g <= (end-1)>>s.shift; g++ {
		gOff := g << s.shift
		j := writeJob{g: g, oldLen: granuleLen(pre.Size, g, s.shift), newLen: granuleLen(post.Size, g, s.shift)}
		j.oldCRC, j.present, _ = o.rec.cmap.lookup(g)
		if j.present {
			o.rec.cmap.clear(g)
			dropped += int64(j.oldLen)
		} else if !(off <= gOff && end >= gOff+int64(j.newLen)) {
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, dropped
}

// applyWrite builds and writes each job's new granule, then marks them
// present if nothing changed the object meanwhile. Like a fetched
// granule's, their bytes are made durable by the flusher (persist).
func (s *Store) applyWrite(o *object, post Coherency, gen uint64, jobs []writeJob, data []byte, off int64) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	current := !o.dead && o.gen.Load() == gen && o.rec.coh == post
	o.mu.Unlock()
	if !current {
		return // a later write or invalidation superseded this one: write nothing
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	end := off + int64(len(data))
	var reserved int64
	wrote := false
	for i := range jobs {
		j := &jobs[i]
		gOff := j.g << s.shift
		b := (*buf)[:j.newLen]
		if j.present {
			if _, err := o.f.ReadAt(b[:j.oldLen], gOff); err != nil {
				s.ioError("read", o, err)
				continue
			}
			if crc32c(b[:j.oldLen]) != j.oldCRC {
				s.ctr.checksumFailures.Add(1)
				continue
			}
			clear(b[j.oldLen:])
		}
		lo, hi := max(off, gOff), min(end, gOff+int64(j.newLen))
		if lo < hi {
			copy(b[lo-gOff:hi-gOff], data[lo-off:hi-off])
		}
		if !s.reserve(int64(j.newLen)) {
			continue
		}
		reserved += int64(j.newLen)
		if _, err := o.f.WriteAt(b, gOff); err != nil {
			s.ioError("write", o, err)
			break
		}
		j.crc, j.ok, wrote = crc32c(b), true, true
	}
	var kept int64
	o.mu.Lock()
	if wrote && !o.dead && o.gen.Load() == gen && o.rec.coh == post {
		for _, j := range jobs {
			if j.ok {
				o.setUnsyncedLocked(j.g, j.crc)
				kept += int64(j.newLen)
			}
		}
	}
	o.mu.Unlock()
	s.unreserve(reserved - kept)
	s.commitSize(o.ent, kept)
	if kept > 0 {
		s.markDirty(o)
	}
}
