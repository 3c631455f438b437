package proxy

import (
	"context"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
)

// DataCache is what the proxy needs from the on-disk data cache for one
// volume. StoreVolume adapts a *cache.Store.
type DataCache interface {
	// ReadAt reads p at off, fetching what is missing with fetch; fromUpstream
	// of the n bytes were not in the cache (0: a hit). When the file changed
	// under a fetch, the n bytes are of the new version and err is fetch's
	// Changed error (see cache.Changed).
	ReadAt(ctx context.Context, fh []byte, coh cache.Coherency, p []byte, off int64, fetch cache.Fetcher) (n, fromUpstream int, err error)
	// ReadSpan returns [off, off+n) as a span of the cache file to send
	// as it is (sendfile) when all of it is cached and checked; false:
	// use ReadAt. See cache.Store.ReadSpan.
	ReadSpan(fh []byte, coh cache.Coherency, off int64, n int, fetch cache.Fetcher) (cache.Span, bool)
	WroteAt(fh []byte, pre, post cache.Coherency, data []byte, off int64)
	Invalidate(fh []byte)
}

// StoreVolume binds a cache.Store to one volume's key.
func StoreVolume(s *cache.Store, key cache.VolumeKey) DataCache { return storeVolume{s, key} }

type storeVolume struct {
	s   *cache.Store
	key cache.VolumeKey
}

func (v storeVolume) ReadAt(ctx context.Context, fh []byte, coh cache.Coherency, p []byte, off int64, fetch cache.Fetcher) (int, int, error) {
	return v.s.ReadAtFrom(ctx, v.key, fh, coh, p, off, fetch)
}

func (v storeVolume) ReadSpan(fh []byte, coh cache.Coherency, off int64, n int, fetch cache.Fetcher) (cache.Span, bool) {
	return v.s.ReadSpan(v.key, fh, coh, off, n, fetch)
}

func (v storeVolume) WroteAt(fh []byte, pre, post cache.Coherency, data []byte, off int64) {
	v.s.WroteAt(v.key, fh, pre, post, data, off)
}

func (v storeVolume) Invalidate(fh []byte) { v.s.Invalidate(v.key, fh) }

// The data cache fills through coherency's fetcher, which decides whether
// fetched bytes are the version being cached.
var (
	_ cache.Fetcher = (*coherency.Fetcher)(nil)
	_ cache.Changed = (*coherency.Changed)(nil)
)
