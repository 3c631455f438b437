package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Store is an open cache directory. All methods are safe for concurrent
// use. Lock order: closeMu, then an object's wmu, then mu, then an
// object's mu; the index's locks and flush.mu are leaves. No lock is held
// across disk I/O or a fetch, except wmu across the granule write it guards.
type Store struct {
	opts     Options
	fs       FS
	log      *slog.Logger
	shift    uint // log2 of the granule size
	gsize    int
	root     string
	cacheDir string // <root>/cache
	graveDir string // <root>/graveyard
	lock     *dirLock

	ctx    context.Context // cancelled by Close: stops all background work
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Store starts

	bufs     sync.Pool     // *[]byte, one granule each
	storeSem chan struct{} // bounds background granule stores
	raSem    chan struct{} // bounds readahead fetches
	cullKick chan struct{}
	reapKick chan struct{}

	// closeMu orders requests against Close: requests hold it shared
	// and Close exclusively, so Close waits for requests in progress and
	// nothing starts a goroutine after Close waits for them.
	closeMu sync.RWMutex
	closed  bool

	// mu guards the object table: byKey, byDir, every volume's objs,
	// every object's refs, state, busy and idle links, and idle.
	mu    sync.Mutex
	byKey map[VolumeKey]*volume
	byDir map[string]*volume // by directory name
	idle  idleList           // open objects with no users, LRU first
	nopen atomic.Int64       // objects in the table; written under mu

	idx      index        // every object on disk, for culling
	used     atomic.Int64 // data bytes cached plus reservations
	noStore  stopFlag     // a statfs stop limit is crossed
	noXattr  atomic.Bool  // the filesystem has no user xattrs
	flush    flushQueue   // records to write, objects to close
	graveSeq atomic.Uint64
	lastWarn atomic.Int64
	ctr      counters
	volCtr   sync.Map // volume id (uint16) → *volumeCounters

	scanHook func() // tests only: called after each scan of a cull pass
}

// Fetcher reads len(p) bytes at off from the upstream. p is granule
// aligned and granule sized except at EOF, when continuing after a short
// read, and for a reader's own part of a granule that is being fetched
// whole in the background. Fetch returns how many bytes it read and whether it
// reached the end of the file. It is an interface, not a func, so a caller
// can pass a value it already holds and a cache hit allocates nothing.
type Fetcher interface {
	Fetch(ctx context.Context, p []byte, off int64) (n int, eof bool, err error)
}

// Changed is implemented by a Fetcher's error saying that the file
// changed under the fetch: the bytes it read (its n) are the upstream's
// current ones, of version ChangedTo, not the version the read asked for.
// They are served to the readers of that fetch, with the error, and
// stored nowhere; the read ends where bytes of the version asked for
// would be followed by them (a short read). See ReadAtFrom.
type Changed interface {
	error
	ChangedTo() Coherency
}

// isChanged reports whether err says the file changed under a fetch.
// (errors.As's target escapes: declared after the nil check, it costs an
// allocation only on an error.)
func isChanged(err error) bool {
	if err == nil {
		return false
	}
	var c Changed
	return errors.As(err, &c)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, p []byte, off int64) (n int, eof bool, err error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, p []byte, off int64) (int, bool, error) {
	return f(ctx, p, off)
}

// Open opens (creating if needed) the cache at opts.Dir and takes its
// lock. It reads no object: the index of objects for culling is built by
// a background walk, and objects are read when first used, so Open's
// cost does not grow with the cache.
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cache: open %s: %w", opts.Dir, err)
	}
	s := &Store{
		opts:     opts,
		fs:       opts.FS,
		log:      opts.Logger,
		gsize:    opts.GranuleSize,
		root:     root,
		cacheDir: filepath.Join(root, "cache"),
		graveDir: filepath.Join(root, "graveyard"),
		storeSem: make(chan struct{}, 8),
		raSem:    make(chan struct{}, max(2*opts.Readahead, 64)),
		cullKick: make(chan struct{}, 1),
		reapKick: make(chan struct{}, 1),
		byKey:    make(map[VolumeKey]*volume),
		byDir:    make(map[string]*volume),
	}
	for s.gsize > 1<<s.shift {
		s.shift++
	}
	s.bufs.New = func() any { b := make([]byte, s.gsize); return &b }
	s.noXattr.Store(opts.NoXattr)
	s.idx.init(opts.Clock)
	s.flush.init(max(1, opts.MaxOpenObjects/2))
	for _, d := range []string{root, s.cacheDir, s.graveDir} {
		if err := s.fs.Mkdir(d, 0o700); err != nil && !errors.Is(err, fsErrExist) {
			return nil, fmt.Errorf("cache: open %s: %w", root, err)
		}
	}
	if s.lock, err = lockDir(root); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(4)
	go s.walkLoop()
	go s.cullLoop()
	go s.reapLoop()
	go s.flushLoop()
	return s, nil
}

// Close stops background work (walk, culler, reaper, readahead), waits
// for requests in progress, writes dirty records, closes every object and
// releases the lock. Requests after Close pass through to the Fetcher.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.closeMu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.closeAllObjects()
	return s.lock.release()
}

// enter admits a request unless the Store is closed; leave ends it.
func (s *Store) enter() bool {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return false
	}
	return true
}

func (s *Store) leave() { s.closeMu.RUnlock() }

func (s *Store) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Store) putBuf(b *[]byte) { s.bufs.Put(b) }

// ioError counts a cache I/O failure that was degraded to pass-through
// and logs it, at most once a second.
func (s *Store) ioError(op string, o *object, err error) {
	if isNoSpace(err) {
		s.ctr.noSpace.Add(1)
		s.kick(s.cullKick)
	} else {
		s.ctr.ioErrors.Add(1)
	}
	now := s.opts.Clock.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last < int64(time.Second) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	if o != nil {
		s.log.Warn("cache: degraded to pass-through", "op", op, "volume", o.v.dir, "fh", handleName([]byte(o.fh)), "err", err)
	} else {
		s.log.Warn("cache: degraded to pass-through", "op", op, "err", err)
	}
}

// kick wakes a background loop without blocking.
func (s *Store) kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
