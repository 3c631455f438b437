package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"time"

	"github.com/jonboulle/clockwork"
)

// Options configure a Store. The zero value, with Dir set, works.
type Options struct {
	// Dir is the cache root: <Dir>/cache/I<volume key>/@<xx>/<handle>,
	// <Dir>/graveyard/ and the lock file <Dir>/lock.
	Dir string
	// GranuleSize is the unit of fetching, storing and checksumming:
	// a power of two from 4 KiB to 16 MiB; default 256 KiB. Objects stored
	// with another granule size are dropped when next used.
	GranuleSize int
	// MaxBytes caps the data bytes cached (0 = no cap). Culling starts
	// above MaxBytes less BCull percent and goes down to MaxBytes less
	// BRun percent; above MaxBytes less BStop percent nothing new is stored.
	MaxBytes int64
	// BRun, BCull, BStop are free-block percentages of the filesystem,
	// as in cachefilesd: culling starts below BCull and stops at BRun;
	// below BStop nothing new is stored. Defaults 10, 7, 3.
	BRun, BCull, BStop int
	// FRun, FCull, FStop are the same for free files (inodes).
	FRun, FCull, FStop int
	// Readahead is the most granules to keep in flight ahead of a
	// sequential reader (the window starts at 4 and doubles while the
	// upstream keeps up): 0 means the default 64, a negative number
	// turns it off.
	Readahead int
	// MaxOpenObjects bounds the objects kept open (with a descriptor)
	// while idle; default 1024.
	MaxOpenObjects int
	// CullInterval is how often the culler checks free space when no
	// store kicks it; default 10s.
	CullInterval time.Duration
	// FlushDelay is how long the flusher lets dirty records gather
	// before it makes them durable (fdatasync of the data, then the
	// record): 0 means the default, 1s; negative means at once. An object
	// dropped within the window (a temporary file written and removed
	// through the proxy) costs no fdatasync at all, and a file filling
	// granule by granule costs one per window rather than one per flush.
	// Nothing waits for it: a record that was not written yet only makes
	// the cache under-report after a crash. Evictions and Close do not
	// wait for the window.
	FlushDelay time.Duration
	// Paranoid re-reads and re-checks the whole granule on every read.
	// Otherwise a granule checked (or written) since its object was
	// opened serves reads, whole or partial, without re-checking.
	Paranoid bool
	// NoXattr keeps records in sidecar files even where user xattrs work.
	NoXattr bool
	// FS is the filesystem seam; nil means OSFS().
	FS FS
	// Logger receives warnings about degraded operation; nil discards.
	Logger *slog.Logger
	// Clock drives the culler's interval, last-use times and the warning
	// rate limit; nil means the real clock. Tests inject a fake one.
	Clock clockwork.Clock
}

const (
	defaultGranule   = 256 << 10
	defaultReadahead = 64
	maxReadahead     = 64

	defaultFlushDelay = time.Second
)

func (o *Options) setDefaults() {
	if o.GranuleSize == 0 {
		o.GranuleSize = defaultGranule
	}
	if o.BRun == 0 && o.BCull == 0 && o.BStop == 0 {
		o.BRun, o.BCull, o.BStop = 10, 7, 3
	}
	if o.FRun == 0 && o.FCull == 0 && o.FStop == 0 {
		o.FRun, o.FCull, o.FStop = 10, 7, 3
	}
	if o.Readahead == 0 {
		o.Readahead = defaultReadahead
	}
	if o.MaxOpenObjects == 0 {
		o.MaxOpenObjects = 1024
	}
	if o.FlushDelay == 0 {
		o.FlushDelay = defaultFlushDelay
	}
	if o.CullInterval == 0 {
		o.CullInterval = 10 * time.Second
	}
	if o.FS == nil {
		o.FS = OSFS()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
}

// Validate reports the first unusable field, by name.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("cache: option Dir: empty")
	case o.GranuleSize < 4096 || o.GranuleSize > 16<<20 || bits.OnesCount(uint(o.GranuleSize)) != 1:
		return fmt.Errorf("cache: option GranuleSize: %d is not a power of two from 4 KiB to 16 MiB", o.GranuleSize)
	case o.MaxBytes < 0:
		return fmt.Errorf("cache: option MaxBytes: %d is negative", o.MaxBytes)
	case o.Readahead > maxReadahead:
		return fmt.Errorf("cache: option Readahead: %d is over %d", o.Readahead, maxReadahead)
	case o.MaxOpenObjects < 1:
		return fmt.Errorf("cache: option MaxOpenObjects: %d is below 1", o.MaxOpenObjects)
	case o.CullInterval < 0:
		return fmt.Errorf("cache: option CullInterval: %v is negative", o.CullInterval)
	}
	if err := checkLimits("BRun, BCull, BStop", o.BRun, o.BCull, o.BStop); err != nil {
		return err
	}
	return checkLimits("FRun, FCull, FStop", o.FRun, o.FCull, o.FStop)
}

func checkLimits(names string, run, cull, stop int) error {
	if !(0 <= stop && stop < cull && cull < run && run < 100) {
		return fmt.Errorf("cache: option %s: %d, %d, %d; want 0 <= stop < cull < run < 100", names, run, cull, stop)
	}
	return nil
}
