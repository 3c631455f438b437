package coherency

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// Cache is the metadata cache of one volume. It is safe for concurrent use.
type Cache struct {
	opts  Options
	seed  maphash.Seed
	epoch time.Time // stamp 0

	attrs    []attrShard // len is a power of two
	attrMask uint64
	names    []nameShard // len is a power of two
	nameMask uint64
	listings listings
	writes   writeTable
	lastGen  atomic.Uint64 // generation counter; 0 is never handed out
	ctr      counters
}

// maxShards is the most shards a table is split into; minPerShard is the
// fewest entries a shard is given before the table is split at all, so
// small caches (and tests) keep exact LRU order.
const (
	maxShards   = 16
	minPerShard = 1024
)

// shardCount returns how many shards a table bounded by max entries gets.
func shardCount(max int) int {
	n := 1
	for n < maxShards && max/(2*n) >= minPerShard {
		n *= 2
	}
	return n
}

// New returns an empty Cache configured by opts.
func New(opts Options) (*Cache, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{opts: opts, seed: maphash.MakeSeed(), epoch: opts.Clock.Now()}

	n := shardCount(opts.MaxAttrs)
	c.attrs = make([]attrShard, n)
	c.attrMask = uint64(n - 1)
	for i := range c.attrs {
		c.attrs[i].init(opts.MaxAttrs / n)
	}

	n = shardCount(opts.MaxNames)
	c.names = make([]nameShard, n)
	c.nameMask = uint64(n - 1)
	for i := range c.names {
		c.names[i].init(opts.MaxNames / n)
	}

	c.listings.init(opts.MaxListings, opts.MaxListingBytes)
	return c, nil
}

// Mode returns the volume's coherency mode.
func (c *Cache) Mode() Mode { return c.opts.Mode }

// ForwardGetattr reports whether the proxy must send every client GETATTR
// upstream (ModeCTO) and feed the reply back through PutAttr.
func (c *Cache) ForwardGetattr() bool { return c.opts.Mode == ModeCTO }

func (c *Cache) now() stamp { return stamp(c.opts.Clock.Since(c.epoch)) }

// stamp is a time on the cache's clock, in nanoseconds since the cache
// was made: 8 bytes in every node where a time.Time takes 24.
type stamp int64

// since returns how long before now s was.
func (now stamp) since(s stamp) time.Duration { return time.Duration(now - s) }

// newGen returns a generation number larger than every one before it.
func (c *Cache) newGen() uint64 { return c.lastGen.Add(1) }

func (c *Cache) attrShard(fh []byte) *attrShard {
	if c.attrMask == 0 {
		return &c.attrs[0]
	}
	return &c.attrs[maphash.Bytes(c.seed, fh)&c.attrMask]
}

func (c *Cache) nameShard(dir []byte, name string) *nameShard {
	if c.nameMask == 0 {
		return &c.names[0]
	}
	h := maphash.Bytes(c.seed, dir)*31 + maphash.String(c.seed, name)
	return &c.names[h&c.nameMask]
}

// nameShardS is nameShard for a directory handle held as a string.
func (c *Cache) nameShardS(dir, name string) *nameShard {
	if c.nameMask == 0 {
		return &c.names[0]
	}
	h := maphash.String(c.seed, dir)*31 + maphash.String(c.seed, name)
	return &c.names[h&c.nameMask]
}

// InvalidateAll drops everything the cache holds, e.g. for the `cache
// invalidate` command on a static volume.
func (c *Cache) InvalidateAll(cause Cause) {
	for i := range c.attrs {
		c.attrs[i].clear(&c.ctr)
	}
	for i := range c.names {
		c.names[i].clear(&c.ctr)
	}
	c.listings.clear(&c.ctr)
	c.ctr.invalidated(cause)
}
