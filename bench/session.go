package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

// Session is one mounted target: the client, the credential, the parameters
// and the handle of the bench directory. Its methods are safe for concurrent
// use.
type Session struct {
	c     *upstream.Client
	cred  rpc.Cred
	p     Params
	dir   nfs3.FH // Params.Dir under the export root
	label string
	// noMode: the server fails a CREATE that sets a mode (go-nfs cannot
	// always chmod), so files get the server's default mode. Set by dial.
	noMode bool
}

// dial mounts the target and makes sure the bench directory exists.
func dial(ctx context.Context, o *Options) (*Session, error) {
	c, err := upstream.Dial(ctx, upstream.Options{
		Server: o.Target.Host, Export: o.Target.Export,
		NFSPort: o.Target.NFSPort, MountPort: o.Target.MountPort,
		Conns: o.Params.Conns, UnprivilegedPort: !o.PrivilegedPort,
		Logger: o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s:%s: %w", o.Target.Host, o.Target.Export, err)
	}
	s := &Session{c: c, cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: "nfsbench"}, p: o.Params, label: o.Label}
	if s.dir, err = s.ensureDir(ctx, c.Root(), o.Params.Dir); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.probeMode(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// probeMode finds out whether CREATE may set a mode, with a probe file.
func (s *Session) probeMode(ctx context.Context) error {
	const probe = ".probe-create-mode"
	if _, err := s.create(ctx, s.dir, probe, false); err != nil {
		var st nfs3.Stat
		if !errors.As(err, &st) {
			return err
		}
		s.noMode = true
		if _, err := s.create(ctx, s.dir, probe, false); err != nil {
			return err
		}
	}
	return s.remove(ctx, s.dir, probe)
}

// Close unmounts (closes the client).
func (s *Session) Close() error { return s.c.Close() }

// Params returns the session's parameters (defaults applied).
func (s *Session) Params() Params { return s.p }

// calls returns the number of NFS calls the client has made.
func (s *Session) calls() int64 { return s.c.Stats().Calls }

// lookup resolves name in dir.
func (s *Session) lookup(ctx context.Context, dir nfs3.FH, name string) (nfs3.FH, error) {
	res, err := s.c.Lookup(ctx, &s.cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: dir, Name: name}})
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", name, err)
	}
	if res.Status != nfs3.StatOK {
		return nil, fmt.Errorf("lookup %s: %w", name, res.Status)
	}
	return res.Object, nil
}

// getattr returns the attributes of fh.
func (s *Session) getattr(ctx context.Context, fh nfs3.FH) (nfs3.Fattr3, error) {
	res, err := s.c.Getattr(ctx, &s.cred, &nfs3.GetattrArgs{Object: fh})
	if err != nil {
		return nfs3.Fattr3{}, fmt.Errorf("getattr: %w", err)
	}
	if res.Status != nfs3.StatOK {
		return nfs3.Fattr3{}, fmt.Errorf("getattr: %w", res.Status)
	}
	return res.Attr, nil
}

// exists reports whether name is in dir.
func (s *Session) exists(ctx context.Context, dir nfs3.FH, name string) (bool, error) {
	_, err := s.lookup(ctx, dir, name)
	if errors.Is(err, nfs3.StatNoEnt) {
		return false, nil
	}
	return err == nil, err
}

// ensureDir returns the handle of directory name in dir, making it if needed.
func (s *Session) ensureDir(ctx context.Context, dir nfs3.FH, name string) (nfs3.FH, error) {
	fh, err := s.lookup(ctx, dir, name)
	if !errors.Is(err, nfs3.StatNoEnt) {
		return fh, err
	}
	res, err := s.c.Mkdir(ctx, &s.cred, &nfs3.MkdirArgs{
		Where: nfs3.DirOpArgs{Dir: dir, Name: name},
		Attr:  nfs3.Sattr3{SetMode: true, Mode: 0o777},
	})
	if err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", name, err)
	}
	switch {
	case res.Status == nfs3.StatExist:
		return s.lookup(ctx, dir, name)
	case res.Status != nfs3.StatOK:
		return nil, fmt.Errorf("mkdir %s: %w", name, res.Status)
	case res.Obj.Set:
		return res.Obj.FH, nil
	}
	return s.lookup(ctx, dir, name)
}

// create makes an empty regular file name in dir: GUARDED when guarded (an
// existing name is an error), otherwise UNCHECKED, and an existing file is
// then truncated with SETATTR. Only the mode is set at creation, as go-nfs
// cannot apply a size in CREATE (nor a mode: see noMode). Files are 0666
// and directories 0777, so that a proxy squashing root to nobody (the
// default of exports(5)) can still write what the unsquashed setup made.
func (s *Session) create(ctx context.Context, dir nfs3.FH, name string, guarded bool) (nfs3.FH, error) {
	a := &nfs3.CreateArgs{
		Where: nfs3.DirOpArgs{Dir: dir, Name: name},
		Mode:  nfs3.CreateUnchecked,
		Attr:  nfs3.Sattr3{SetMode: !s.noMode, Mode: 0o666},
	}
	if guarded {
		a.Mode = nfs3.CreateGuarded
	}
	res, err := s.c.Create(ctx, &s.cred, a)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	if res.Status != nfs3.StatOK {
		return nil, fmt.Errorf("create %s: %w", name, res.Status)
	}
	fh := res.Obj.FH
	if !res.Obj.Set {
		if fh, err = s.lookup(ctx, dir, name); err != nil {
			return nil, err
		}
	}
	if !res.ObjAttr.Set || res.ObjAttr.Attr.Size != 0 {
		if err := s.truncate(ctx, fh); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
	}
	return fh, nil
}

// truncate sets the size of fh to 0.
func (s *Session) truncate(ctx context.Context, fh nfs3.FH) error {
	res, err := s.c.Setattr(ctx, &s.cred, &nfs3.SetattrArgs{Object: fh, New: nfs3.Sattr3{SetSize: true}})
	if err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if res.Status != nfs3.StatOK {
		return fmt.Errorf("truncate: %w", res.Status)
	}
	return nil
}

// remove unlinks name in dir.
func (s *Session) remove(ctx context.Context, dir nfs3.FH, name string) error {
	res, err := s.c.Remove(ctx, &s.cred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: dir, Name: name}})
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if res.Status != nfs3.StatOK {
		return fmt.Errorf("remove %s: %w", name, res.Status)
	}
	return nil
}

// maxCalls bounds the calls one read or write may take: a server must move
// at least a page per call.
func maxCalls(n int) int { return n/pageSize + 2 }

// read fills buf from off with as many READs as it takes and returns the
// bytes read, fewer than len(buf) only at end of file.
func (s *Session) read(ctx context.Context, fh nfs3.FH, off uint64, buf []byte) (int, error) {
	n := 0
	for i := 0; n < len(buf); i++ {
		if i >= maxCalls(len(buf)) {
			return n, fmt.Errorf("read at %d: %w: no progress", off, ErrProtocol)
		}
		res, err := s.c.Read(ctx, &s.cred, &nfs3.ReadArgs{File: fh, Offset: off + uint64(n), Count: uint32(len(buf) - n)})
		if err != nil {
			return n, fmt.Errorf("read at %d: %w", off+uint64(n), err)
		}
		if res.Status != nfs3.StatOK {
			return n, fmt.Errorf("read at %d: %w", off+uint64(n), res.Status)
		}
		if len(res.Data) > len(buf)-n {
			return n, fmt.Errorf("read at %d: %w: %d bytes for %d asked", off, ErrProtocol, len(res.Data), len(buf)-n)
		}
		n += copy(buf[n:], res.Data)
		if res.EOF {
			break
		}
	}
	return n, nil
}

// write writes data at off with as many WRITEs as it takes.
func (s *Session) write(ctx context.Context, fh nfs3.FH, off uint64, data []byte, stable nfs3.StableHow) error {
	n := 0
	for i := 0; n < len(data); i++ {
		if i >= maxCalls(len(data)) {
			return fmt.Errorf("write at %d: %w: no progress", off, ErrProtocol)
		}
		rest := data[n:]
		res, err := s.c.Write(ctx, &s.cred, &nfs3.WriteArgs{File: fh, Offset: off + uint64(n), Count: uint32(len(rest)), Stable: stable, Data: rest})
		if err != nil {
			return fmt.Errorf("write at %d: %w", off+uint64(n), err)
		}
		if res.Status != nfs3.StatOK {
			return fmt.Errorf("write at %d: %w", off+uint64(n), res.Status)
		}
		if int(res.Count) > len(rest) {
			return fmt.Errorf("write at %d: %w: %d bytes written of %d", off, ErrProtocol, res.Count, len(rest))
		}
		n += int(res.Count)
	}
	return nil
}

// commit commits the whole file.
func (s *Session) commit(ctx context.Context, fh nfs3.FH) error {
	res, err := s.c.Commit(ctx, &s.cred, &nfs3.CommitArgs{File: fh})
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if res.Status != nfs3.StatOK {
		return fmt.Errorf("commit: %w", res.Status)
	}
	return nil
}

// maxPages bounds the READDIRPLUS calls of one listing.
const maxPages = 1 << 20

// list reads every page of dir with READDIRPLUS and calls fn for each entry
// but "." and "..". It returns the number of pages.
func (s *Session) list(ctx context.Context, dir nfs3.FH, fn func(e *nfs3.DirEntryPlus) error) (int, error) {
	a := nfs3.ReaddirplusArgs{Dir: dir, DirCount: s.p.DirCount, MaxCount: s.p.MaxCount}
	for page := 1; page <= maxPages; page++ {
		res, err := s.c.Readdirplus(ctx, &s.cred, &a)
		if err != nil {
			return page, fmt.Errorf("readdirplus: %w", err)
		}
		if res.Status != nfs3.StatOK {
			return page, fmt.Errorf("readdirplus: %w", res.Status)
		}
		for i := range res.Entries {
			e := &res.Entries[i]
			a.Cookie = e.Cookie
			if e.Name == "." || e.Name == ".." {
				continue
			}
			if err := fn(e); err != nil {
				return page, err
			}
		}
		if res.EOF {
			return page, nil
		}
		if len(res.Entries) == 0 {
			return page, fmt.Errorf("readdirplus: %w: empty page before EOF", ErrProtocol)
		}
		a.CookieVerf = res.CookieVerf
	}
	return maxPages, fmt.Errorf("readdirplus: %w: more than %d pages", ErrProtocol, maxPages)
}

// names returns the names in dir (not "." and "..").
func (s *Session) names(ctx context.Context, dir nfs3.FH) (map[string]bool, error) {
	m := make(map[string]bool)
	_, err := s.list(ctx, dir, func(e *nfs3.DirEntryPlus) error {
		m[e.Name] = true
		return nil
	})
	return m, err
}

// parallel calls fn(i) for i in [0, n) with at most workers calls at once
// and returns the first error; after an error no new call starts.
func parallel(parent context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next     atomic.Int64
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return parent.Err()
}
