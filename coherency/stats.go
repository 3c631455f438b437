package coherency

import (
	"strconv"
	"sync/atomic"
)

// Cause says why cached state was invalidated.
type Cause int

const (
	// CauseChanged: PutAttr found the upstream's attributes changed.
	CauseChanged Cause = iota
	// CauseWcc: WCC data of our own operation showed someone else's change.
	CauseWcc
	// CauseStale: the upstream answered NFS3ERR_STALE.
	CauseStale
	// CauseExplicit: an operator asked (e.g. `cache invalidate`).
	CauseExplicit
	// CauseOwnOp: our own namespace operation (REMOVE, RENAME, RMDIR...).
	CauseOwnOp
	numCauses
)

var causeNames = [numCauses]string{"changed", "wcc", "stale", "explicit", "own-op"}

// String returns "changed", "wcc", "stale", "explicit" or "own-op", or
// "Cause(n)".
func (c Cause) String() string {
	if c >= 0 && c < numCauses {
		return causeNames[c]
	}
	return "Cause(" + strconv.Itoa(int(c)) + ")"
}

// Stats is a snapshot of a Cache's counters. Counters only grow; the
// *Entries, ListingPages and ListingBytes fields are gauges.
type Stats struct {
	AttrHits          int64 // Attr found fresh attributes
	AttrMisses        int64 // Attr found none, or stale ones
	AttrRevalidations int64 // PutAttr on an object already cached
	AttrChanged       int64 // ... that found its version changed
	AttrOutOfOrder    int64 // replies ignored: older ctime than the cached attributes
	AttrEvictions     int64

	NameHits      int64 // Lookup found a valid positive entry
	NegativeHits  int64 // Lookup found a valid negative entry
	NameMisses    int64
	NameEvictions int64

	ListingHits      int64 // Readdir or Readdirplus served a page
	ListingMisses    int64
	ListingEvictions int64 // directories whose pages were evicted for space

	AccessHits     int64
	AccessMisses   int64
	ReadlinkHits   int64
	ReadlinkMisses int64

	// WccOurs and WccOthers count ApplyWcc calls that kept the cache
	// (our change alone) and that invalidated it.
	WccOurs, WccOthers int64
	// WccStandIns counts WRITE replies without pre-op attributes for
	// which the cached attributes stood in (EndWrite).
	WccStandIns int64

	// Invalidations counts invalidation events by Cause: PutAttr changes
	// (CauseChanged), ApplyWcc mismatches (CauseWcc), and Invalidate and
	// InvalidateAll calls (one each, with their cause).
	Invalidations [numCauses]int64

	AttrEntries    int64 // objects with cached attributes
	NameEntries    int64 // names held, including ones already invalid but not yet dropped
	ListingEntries int64 // directories with listing pages held
	ListingPages   int64
	ListingBytes   int64 // estimated memory of the listing pages
}

type counters struct {
	attrHits, attrMisses, attrRevalidations    atomic.Int64
	attrChanged, attrEvictions, attrOutOfOrder atomic.Int64
	nameHits, negativeHits, nameMisses         atomic.Int64
	nameEvictions                              atomic.Int64
	listingHits, listingMisses, listingEvict   atomic.Int64
	accessHits, accessMisses                   atomic.Int64
	readlinkHits, readlinkMisses               atomic.Int64
	wccOurs, wccOthers, wccStandIns            atomic.Int64
	invalidations                              [numCauses]atomic.Int64

	attrEntries, nameEntries                   atomic.Int64
	listingEntries, listingPages, listingBytes atomic.Int64
}

func (c *counters) invalidated(cause Cause) {
	if cause >= 0 && cause < numCauses {
		c.invalidations[cause].Add(1)
	}
}

// Stats returns a snapshot. It takes no locks.
func (c *Cache) Stats() Stats {
	k := &c.ctr
	s := Stats{
		AttrHits:          k.attrHits.Load(),
		AttrMisses:        k.attrMisses.Load(),
		AttrRevalidations: k.attrRevalidations.Load(),
		AttrChanged:       k.attrChanged.Load(),
		AttrOutOfOrder:    k.attrOutOfOrder.Load(),
		AttrEvictions:     k.attrEvictions.Load(),
		NameHits:          k.nameHits.Load(),
		NegativeHits:      k.negativeHits.Load(),
		NameMisses:        k.nameMisses.Load(),
		NameEvictions:     k.nameEvictions.Load(),
		ListingHits:       k.listingHits.Load(),
		ListingMisses:     k.listingMisses.Load(),
		ListingEvictions:  k.listingEvict.Load(),
		AccessHits:        k.accessHits.Load(),
		AccessMisses:      k.accessMisses.Load(),
		ReadlinkHits:      k.readlinkHits.Load(),
		ReadlinkMisses:    k.readlinkMisses.Load(),
		WccOurs:           k.wccOurs.Load(),
		WccOthers:         k.wccOthers.Load(),
		WccStandIns:       k.wccStandIns.Load(),
		AttrEntries:       k.attrEntries.Load(),
		NameEntries:       k.nameEntries.Load(),
		ListingEntries:    k.listingEntries.Load(),
		ListingPages:      k.listingPages.Load(),
		ListingBytes:      k.listingBytes.Load(),
	}
	for i := range s.Invalidations {
		s.Invalidations[i] = k.invalidations[i].Load()
	}
	return s
}
