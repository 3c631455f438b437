package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// The soak's data set, in the directory "soak" of the export, written on
// the upstream's disk before the proxy starts:
//
//	soak/shared/f000…   Files files of FileSize, the stamp pattern of
//	                    fileKey("soak/shared/fNNN"); never written again
//	soak/own/cNN        one per client, OwnSize bytes in IOSize slots; slot
//	                    k holds the pattern of ownKey(client, generation)
//	soak/scratch/       created, written, read and removed files
//
// An op of a client is one of: a READ of IOSize of a shared file (one in
// ten reads the whole file, sequentially), checked; a WRITE (FILE_SYNC) of
// a slot of its own file with a new generation, read back and checked; a
// stat (LOOKUP+GETATTR) of a shared file, checking its size and that its
// handle has not changed; a listing of the shared directory, checking the
// names; a create, write, read back, remove and negative LOOKUP of a
// scratch file.
//
// Calls that fail transiently (upstream.Classify: JUKEBOX while the
// upstream restarts, lost connections, timeouts) are retried after a pause
// until the op has taken soakOpTimeout, and counted; wrong data or any other
// error stops the soak.

const (
	soakDir       = "soak"
	soakOpTimeout = 5 * time.Minute
	// soakCallTimeout is above any upstream restart, so the client never
	// abandons a call the proxy is still going to run (a late WRITE of an
	// old generation would then land on a newer one).
	soakCallTimeout = 2 * time.Minute
	churnSize       = 8 << 10
)

func sharedName(i int) string { return fmt.Sprintf("f%03d", i) }
func ownName(c int) string    { return fmt.Sprintf("c%02d", c) }

func sharedKey(i int) uint64 { return fileKey(soakDir + "/shared/" + sharedName(i)) }
func ownKey(c, gen int) uint64 {
	return fileKey(fmt.Sprintf("%s/own/%s#%d", soakDir, ownName(c), gen))
}
func churnKey(c, n int) uint64 {
	return fileKey(fmt.Sprintf("%s/scratch/%s-%d", soakDir, ownName(c), n))
}

// soakData is the data set and what each file must hold.
type soakData struct {
	root string // the soak directory on the upstream's disk
	p    *SoakParams
	// own[c][k] is the generation of slot k of client c's file. Each
	// client writes only its own row; verify reads them after the clients
	// have stopped.
	own [][]int
}

// writeSoakData creates the data set under exportDir.
func writeSoakData(exportDir string, p *SoakParams) (*soakData, error) {
	d := &soakData{root: filepath.Join(exportDir, soakDir), p: p}
	// Everything is writable by every uid (and chmod'ed: the umask would
	// take bits away), so that a proxy squashing root still can.
	for _, dir := range []string{d.root, filepath.Join(d.root, "shared"), filepath.Join(d.root, "own"), filepath.Join(d.root, "scratch")} {
		if err := os.Mkdir(dir, 0o777); err != nil {
			return nil, fmt.Errorf("bench: soak data: %w", err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return nil, fmt.Errorf("bench: soak data: %w", err)
		}
	}
	write := func(path string, b []byte) error {
		if err := os.WriteFile(path, b, 0o666); err != nil {
			return fmt.Errorf("bench: soak data: %w", err)
		}
		if err := os.Chmod(path, 0o666); err != nil {
			return fmt.Errorf("bench: soak data: %w", err)
		}
		return nil
	}
	buf := make([]byte, max(p.FileSize, p.OwnSize))
	for i := range p.Files {
		b := buf[:p.FileSize]
		fill(b, sharedKey(i), 0)
		if err := write(filepath.Join(d.root, "shared", sharedName(i)), b); err != nil {
			return nil, err
		}
	}
	slots := int(p.OwnSize / int64(p.IOSize))
	d.own = make([][]int, p.Clients)
	for c := range p.Clients {
		d.own[c] = make([]int, slots)
		b := buf[:p.OwnSize]
		for k := range slots {
			off := k * p.IOSize
			fill(b[off:off+p.IOSize], ownKey(c, 0), uint64(off))
		}
		if err := write(filepath.Join(d.root, "own", ownName(c)), b); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// checkOwn checks b, client c's whole file, against the generations.
func (d *soakData) checkOwn(c int, b []byte) error {
	if int64(len(b)) != d.p.OwnSize {
		return fmt.Errorf("%w: %s: %d bytes, want %d", ErrVerify, ownName(c), len(b), d.p.OwnSize)
	}
	for k, gen := range d.own[c] {
		off := k * d.p.IOSize
		if err := check(b[off:off+d.p.IOSize], ownKey(c, gen), uint64(off)); err != nil {
			return fmt.Errorf("%s slot %d (generation %d): %w", ownName(c), k, gen, err)
		}
	}
	return nil
}

// verify checks every file through the proxy at t and on the upstream's
// disk, and that no scratch file is left; it returns the bytes checked.
func (d *soakData) verify(ctx context.Context, t Target) (int64, error) {
	s, err := dialSoak(ctx, t)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var n int64
	root, err := s.lookup(ctx, s.dir, soakDir)
	if err != nil {
		return n, err
	}
	dirs := map[string]nfs3.FH{}
	for _, sub := range []string{"shared", "own", "scratch"} {
		if dirs[sub], err = s.lookup(ctx, root, sub); err != nil {
			return n, err
		}
	}
	readAll := func(dir nfs3.FH, name string, size int64) ([]byte, error) {
		fh, err := s.lookup(ctx, dir, name)
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+1) // one more: the file must end there
		m, err := s.read(ctx, fh, 0, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return b[:m], nil
	}
	both := func(name string, proxied []byte, check func([]byte) error) error {
		if err := check(proxied); err != nil {
			return fmt.Errorf("through the proxy: %w", err)
		}
		disk, err := os.ReadFile(filepath.Join(d.root, name))
		if err != nil {
			return fmt.Errorf("on the upstream's disk: %w", err)
		}
		if err := check(disk); err != nil {
			return fmt.Errorf("on the upstream's disk: %w", err)
		}
		if !bytes.Equal(disk, proxied) {
			return fmt.Errorf("%w: %s differs between the proxy and the upstream's disk", ErrVerify, name)
		}
		n += int64(len(proxied))
		return nil
	}
	for i := range d.p.Files {
		b, err := readAll(dirs["shared"], sharedName(i), d.p.FileSize)
		if err != nil {
			return n, err
		}
		err = both(filepath.Join("shared", sharedName(i)), b, func(b []byte) error {
			if int64(len(b)) != d.p.FileSize {
				return fmt.Errorf("%w: %s: %d bytes, want %d", ErrVerify, sharedName(i), len(b), d.p.FileSize)
			}
			return check(b, sharedKey(i), 0)
		})
		if err != nil {
			return n, err
		}
	}
	for c := range d.p.Clients {
		b, err := readAll(dirs["own"], ownName(c), d.p.OwnSize)
		if err != nil {
			return n, err
		}
		if err := both(filepath.Join("own", ownName(c)), b, func(b []byte) error { return d.checkOwn(c, b) }); err != nil {
			return n, err
		}
	}
	left, err := s.names(ctx, dirs["scratch"])
	if err != nil {
		return n, err
	}
	onDisk, err := os.ReadDir(filepath.Join(d.root, "scratch"))
	if err != nil {
		return n, err
	}
	if len(left) > 0 || len(onDisk) > 0 {
		return n, fmt.Errorf("%w: %d scratch files listed through the proxy and %d on the disk after every client removed its own", ErrVerify, len(left), len(onDisk))
	}
	return n, nil
}

// dialSoak mounts t for one soak client: one TCP connection, calls given
// soakCallTimeout, lost connections retried like a hard mount.
func dialSoak(ctx context.Context, t Target) (*Session, error) {
	c, err := upstream.Dial(ctx, upstream.Options{
		Server: t.Host, Export: t.Export, NFSPort: t.NFSPort, MountPort: t.MountPort,
		Conns: 1, Hard: true, CallTimeout: soakCallTimeout, UnprivilegedPort: true,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s:%s: %w", t.Host, t.Export, err)
	}
	p := Params{}
	p.setDefaults()
	return &Session{c: c, cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: "nfssoak"}, p: p, dir: c.Root(), label: "soak"}, nil
}

// soakCounters are the load's counters, shared by the clients.
type soakCounters struct {
	reads, readBytes, writes, writeBytes atomic.Int64
	stats, lists, churns, retries        atomic.Int64
	slowest                              atomic.Int64 // nanoseconds
}

// SoakOps counts what the clients did.
type SoakOps struct {
	Reads      int64         `json:"reads"`
	ReadBytes  int64         `json:"read_bytes"`
	Writes     int64         `json:"writes"`
	WriteBytes int64         `json:"write_bytes"`
	Stats      int64         `json:"stats"`
	Lists      int64         `json:"lists"`
	Churns     int64         `json:"churns"`
	Retries    int64         `json:"retries"`
	Slowest    time.Duration `json:"slowest_op_ns"`
}

func (c *soakCounters) snapshot() SoakOps {
	return SoakOps{
		Reads: c.reads.Load(), ReadBytes: c.readBytes.Load(), Writes: c.writes.Load(), WriteBytes: c.writeBytes.Load(),
		Stats: c.stats.Load(), Lists: c.lists.Load(), Churns: c.churns.Load(), Retries: c.retries.Load(),
		Slowest: time.Duration(c.slowest.Load()),
	}
}

func (o SoakOps) total() int64 { return o.Reads + o.Writes + o.Stats + o.Lists + o.Churns }

// runSoakLoad runs p.Clients clients against t for p.Duration. The first
// failure stops every client; it is returned with the counters.
func runSoakLoad(ctx context.Context, t Target, d *soakData, p *SoakParams, po *Options, progressEvery time.Duration) (*soakCounters, error) {
	ctrs := &soakCounters{}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	noMode, err := probeSoakMode(ctx, t)
	if err != nil {
		return ctrs, err
	}
	clients := make([]*soakClient, p.Clients)
	for i := range clients {
		c, err := newSoakClient(ctx, t, d, i, ctrs, noMode)
		if err != nil {
			for _, c := range clients[:i] {
				c.s.Close()
			}
			return ctrs, fmt.Errorf("client %d: %w", i, err)
		}
		clients[i] = c
	}
	start := time.Now()
	deadline := start.Add(p.Duration)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.s.Close()
			if err := c.run(ctx, deadline); err != nil {
				cancel(fmt.Errorf("client %d: %w", c.id, err))
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return ctrs, context.Cause(ctx)
		case <-tick.C:
			o := ctrs.snapshot()
			po.progressf("soak: %v of %v: %d ops, %d retried calls", time.Since(start).Truncate(time.Second), p.Duration, o.total(), o.Retries)
		}
	}
}

// soakClient is one client of the load; its methods are for its goroutine.
type soakClient struct {
	id     int
	s      *Session
	d      *soakData
	p      *SoakParams
	ctrs   *soakCounters
	rnd    *rand.Rand
	buf    []byte
	shared []nfs3.FH
	own    nfs3.FH
	dirs   struct{ shared, scratch nfs3.FH }
	names  []string // the shared names, sorted
	churn  int
}

// probeSoakMode reports whether the server fails a CREATE that sets a mode
// (Session.probeMode), probing in the scratch directory.
func probeSoakMode(ctx context.Context, t Target) (bool, error) {
	s, err := dialSoak(ctx, t)
	if err != nil {
		return false, err
	}
	defer s.Close()
	root, err := s.lookup(ctx, s.dir, soakDir)
	if err != nil {
		return false, err
	}
	if s.dir, err = s.lookup(ctx, root, "scratch"); err != nil {
		return false, err
	}
	err = s.probeMode(ctx)
	return s.noMode, err
}

func newSoakClient(ctx context.Context, t Target, d *soakData, id int, ctrs *soakCounters, noMode bool) (*soakClient, error) {
	s, err := dialSoak(ctx, t)
	if err != nil {
		return nil, err
	}
	s.noMode = noMode
	c := &soakClient{id: id, s: s, d: d, p: d.p, ctrs: ctrs, rnd: rand.New(rand.NewPCG(uint64(id), 0x50a6)), buf: make([]byte, d.p.FileSize)}
	fail := func(err error) (*soakClient, error) { s.Close(); return nil, err }
	root, err := s.lookup(ctx, s.dir, soakDir)
	if err != nil {
		return fail(err)
	}
	if c.dirs.shared, err = s.lookup(ctx, root, "shared"); err != nil {
		return fail(err)
	}
	if c.dirs.scratch, err = s.lookup(ctx, root, "scratch"); err != nil {
		return fail(err)
	}
	ownDir, err := s.lookup(ctx, root, "own")
	if err != nil {
		return fail(err)
	}
	if c.own, err = s.lookup(ctx, ownDir, ownName(id)); err != nil {
		return fail(err)
	}
	for i := range d.p.Files {
		fh, err := s.lookup(ctx, c.dirs.shared, sharedName(i))
		if err != nil {
			return fail(err)
		}
		c.shared = append(c.shared, fh)
		c.names = append(c.names, sharedName(i))
	}
	slices.Sort(c.names)
	return c, nil
}

// run does ops until deadline (an op in hand is finished) or ctx ends.
func (c *soakClient) run(ctx context.Context, deadline time.Time) error {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		start := time.Now()
		octx, cancel := context.WithTimeout(ctx, soakOpTimeout)
		var err error
		switch r := c.rnd.IntN(100); {
		case r < 45:
			err = c.readShared(octx)
		case r < 65:
			err = c.writeOwn(octx)
		case r < 80:
			err = c.stat(octx)
		case r < 88:
			err = c.list(octx)
		default:
			err = c.churnFile(octx)
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped by another client's failure
			}
			return err
		}
		for el := int64(time.Since(start)); ; {
			old := c.ctrs.slowest.Load()
			if el <= old || c.ctrs.slowest.CompareAndSwap(old, el) {
				break
			}
		}
		if c.p.Think > 0 {
			pause := time.Duration(c.rnd.Int64N(2 * int64(c.p.Think)))
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
	return nil
}

// retry runs call until it succeeds or fails other than transiently.
func (c *soakClient) retry(ctx context.Context, what string, call func(attempt int) error) error {
	pause := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := call(attempt)
		if err == nil || errors.Is(err, ErrVerify) || upstream.Classify(err) != upstream.Retry {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: still failing after %d attempts: %w", what, attempt+1, err)
		}
		c.ctrs.retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

func (c *soakClient) readShared(ctx context.Context) error {
	f := c.rnd.IntN(len(c.shared))
	off, n := int64(0), c.p.FileSize // one read in ten takes the whole file
	if c.rnd.IntN(10) != 0 {
		off = c.rnd.Int64N(c.p.FileSize/int64(c.p.IOSize)) * int64(c.p.IOSize)
		n = int64(c.p.IOSize)
	}
	b := c.buf[:n]
	err := c.retry(ctx, "read "+sharedName(f), func(int) error {
		got, err := c.s.read(ctx, c.shared[f], uint64(off), b)
		if err == nil && int64(got) != n {
			return fmt.Errorf("%w: %s at %d: %d bytes, want %d", ErrVerify, sharedName(f), off, got, n)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := check(b, sharedKey(f), uint64(off)); err != nil {
		return fmt.Errorf("%s at %d: %w", sharedName(f), off, err)
	}
	c.ctrs.reads.Add(1)
	c.ctrs.readBytes.Add(n)
	return nil
}

func (c *soakClient) writeOwn(ctx context.Context) error {
	gens := c.d.own[c.id]
	k := c.rnd.IntN(len(gens))
	off := uint64(k * c.p.IOSize)
	gen := gens[k] + 1
	b := c.buf[:c.p.IOSize]
	fill(b, ownKey(c.id, gen), off)
	err := c.retry(ctx, "write "+ownName(c.id), func(int) error {
		return c.s.write(ctx, c.own, off, b, nfs3.FileSync)
	})
	if err != nil {
		return err
	}
	gens[k] = gen
	err = c.retry(ctx, "read back "+ownName(c.id), func(int) error {
		clear(b)
		got, err := c.s.read(ctx, c.own, off, b)
		if err == nil && got != len(b) {
			return fmt.Errorf("%w: %s at %d: %d bytes read back, want %d", ErrVerify, ownName(c.id), off, got, len(b))
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := check(b, ownKey(c.id, gen), off); err != nil {
		return fmt.Errorf("%s slot %d read back after writing generation %d: %w", ownName(c.id), k, gen, err)
	}
	c.ctrs.writes.Add(1)
	c.ctrs.writeBytes.Add(int64(len(b)))
	return nil
}

func (c *soakClient) stat(ctx context.Context) error {
	f := c.rnd.IntN(len(c.shared))
	var a nfs3.Fattr3
	err := c.retry(ctx, "stat "+sharedName(f), func(int) error {
		fh, err := c.s.lookup(ctx, c.dirs.shared, sharedName(f))
		if err != nil {
			return err
		}
		if !bytes.Equal(fh, c.shared[f]) {
			return fmt.Errorf("%w: the handle of %s changed", ErrVerify, sharedName(f))
		}
		a, err = c.s.getattr(ctx, fh)
		return err
	})
	if err != nil {
		return err
	}
	if a.Type != nfs3.TypeReg || int64(a.Size) != c.p.FileSize {
		return fmt.Errorf("%w: %s: type %v size %d, want a regular file of %d", ErrVerify, sharedName(f), a.Type, a.Size, c.p.FileSize)
	}
	c.ctrs.stats.Add(1)
	return nil
}

func (c *soakClient) list(ctx context.Context) error {
	var names map[string]bool
	err := c.retry(ctx, "list shared", func(int) error {
		var err error
		names, err = c.s.names(ctx, c.dirs.shared)
		return err
	})
	if err != nil {
		return err
	}
	got := make([]string, 0, len(names))
	for n := range names {
		got = append(got, n)
	}
	slices.Sort(got)
	if !slices.Equal(got, c.names) {
		return fmt.Errorf("%w: listing of the shared directory has %d names, want %d", ErrVerify, len(got), len(c.names))
	}
	c.ctrs.lists.Add(1)
	return nil
}

// churnFile creates a scratch file, writes it, reads it back, removes it
// and checks that it is gone.
func (c *soakClient) churnFile(ctx context.Context) error {
	c.churn++
	name := fmt.Sprintf("%s-%d", ownName(c.id), c.churn)
	key := churnKey(c.id, c.churn)
	var fh nfs3.FH
	err := c.retry(ctx, "create "+name, func(int) error {
		var err error
		fh, err = c.s.create(ctx, c.dirs.scratch, name, false)
		return err
	})
	if err != nil {
		return err
	}
	b := c.buf[:churnSize]
	fill(b, key, 0)
	if err := c.retry(ctx, "write "+name, func(int) error { return c.s.write(ctx, fh, 0, b, nfs3.FileSync) }); err != nil {
		return err
	}
	err = c.retry(ctx, "read "+name, func(int) error {
		clear(b)
		got, err := c.s.read(ctx, fh, 0, b)
		if err == nil && got != len(b) {
			return fmt.Errorf("%w: %s: %d bytes read back, want %d", ErrVerify, name, got, len(b))
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := check(b, key, 0); err != nil {
		return fmt.Errorf("%s read back: %w", name, err)
	}
	err = c.retry(ctx, "remove "+name, func(attempt int) error {
		err := c.s.remove(ctx, c.dirs.scratch, name)
		if attempt > 0 && errors.Is(err, nfs3.StatNoEnt) {
			return nil // an earlier attempt that lost its reply did it
		}
		return err
	})
	if err != nil {
		return err
	}
	err = c.retry(ctx, "lookup removed "+name, func(int) error {
		_, err := c.s.lookup(ctx, c.dirs.scratch, name)
		switch {
		case errors.Is(err, nfs3.StatNoEnt):
			return nil
		case err == nil:
			return fmt.Errorf("%w: %s found after its REMOVE", ErrVerify, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	c.ctrs.churns.Add(1)
	return nil
}
