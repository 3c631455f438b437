package cache

import "sync/atomic"

// Stats is a snapshot of the Store's counters, in the spirit of
// /proc/fs/fscache/stats. Counters only grow; Objects, BytesUsed and
// OpenObjects are gauges.
type Stats struct {
	Lookups           uint64 // ReadAt calls that reached the cache
	Hits              uint64 // ReadAts served wholly from the cache
	PartialHits       uint64 // ReadAts served partly from the cache
	Misses            uint64 // ReadAts with nothing from the cache
	BytesFromCache    uint64
	BytesFromUpstream uint64
	Fetches           uint64 // Fetcher calls (foreground and readahead)
	FlightJoins       uint64 // reads that waited on another's fetch
	Fills             uint64 // granules stored
	Writes            uint64 // WroteAt calls applied to cached data
	Invalidations     uint64
	Culls             uint64 // objects culled
	Reaped            uint64 // graveyard entries deleted
	NoSpace           uint64 // granules not stored: stop limit, cap or ENOSPC
	IOErrors          uint64 // cache I/O failures degraded to pass-through
	ChecksumFailures  uint64 // granules whose bytes did not match their CRC
	RecordWrites      uint64
	Readaheads        uint64 // granules fetched ahead of a sequential reader
	ChangedFetches    uint64 // fetches whose bytes were of a newer version (served, not stored)
	Objects           int64  // objects known on disk
	BytesUsed         int64  // data bytes cached (see cull.go)
	OpenObjects       int64  // objects with an open descriptor
	IndexReady        bool   // the startup walk of the cache finished
}

type counters struct {
	lookups, hits, partialHits, misses atomic.Uint64
	bytesFromCache, bytesFromUpstream  atomic.Uint64
	fetches, flightJoins, fills        atomic.Uint64
	writes, invalidations, culls       atomic.Uint64
	reaped, noSpace, ioErrors          atomic.Uint64
	checksumFailures, recordWrites     atomic.Uint64
	readaheads, changedFetches         atomic.Uint64
}

// Stats returns a snapshot. It takes no locks.
func (s *Store) Stats() Stats {
	c := &s.ctr
	return Stats{
		Lookups:           c.lookups.Load(),
		Hits:              c.hits.Load(),
		PartialHits:       c.partialHits.Load(),
		Misses:            c.misses.Load(),
		BytesFromCache:    c.bytesFromCache.Load(),
		BytesFromUpstream: c.bytesFromUpstream.Load(),
		Fetches:           c.fetches.Load(),
		FlightJoins:       c.flightJoins.Load(),
		Fills:             c.fills.Load(),
		Writes:            c.writes.Load(),
		Invalidations:     c.invalidations.Load(),
		Culls:             c.culls.Load(),
		Reaped:            c.reaped.Load(),
		NoSpace:           c.noSpace.Load(),
		IOErrors:          c.ioErrors.Load(),
		ChecksumFailures:  c.checksumFailures.Load(),
		RecordWrites:      c.recordWrites.Load(),
		Readaheads:        c.readaheads.Load(),
		ChangedFetches:    c.changedFetches.Load(),
		Objects:           s.idx.count.Load(),
		BytesUsed:         s.used.Load(),
		OpenObjects:       s.nopen.Load(),
		IndexReady:        s.idx.ready.Load(),
	}
}

// VolumeStats are the read counters of one volume (by VolumeKey.ID): how
// each ReadAt for it was served. Objects, bytes, fills and culls are the
// store's, shared by every volume, and only in Stats.
type VolumeStats struct {
	Reads             uint64 // ReadAt calls for the volume
	Hits              uint64 // served wholly from the cache
	PartialHits       uint64 // served partly from the cache
	Misses            uint64 // nothing from the cache
	BytesFromCache    uint64
	BytesFromUpstream uint64
}

type volumeCounters struct {
	lookups, hits, partialHits, misses atomic.Uint64
	bytesFromCache, bytesFromUpstream  atomic.Uint64
}

// volumeCounters returns volume id's counters, creating them on first use.
func (s *Store) volumeCounters(id uint16) *volumeCounters {
	if v, ok := s.volCtr.Load(id); ok {
		return v.(*volumeCounters)
	}
	v, _ := s.volCtr.LoadOrStore(id, new(volumeCounters))
	return v.(*volumeCounters)
}

// VolumeStats returns a snapshot of volume id's read counters (zero for a
// volume never read). It takes no locks.
func (s *Store) VolumeStats(id uint16) VolumeStats {
	v := s.volumeCounters(id)
	return VolumeStats{
		Reads:             v.lookups.Load(),
		Hits:              v.hits.Load(),
		PartialHits:       v.partialHits.Load(),
		Misses:            v.misses.Load(),
		BytesFromCache:    v.bytesFromCache.Load(),
		BytesFromUpstream: v.bytesFromUpstream.Load(),
	}
}
