package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
)

const cacheUsage = `Usage:
  nfscacheproxy cache stats --dir DIR              objects and bytes per volume (works beside a running proxy)
  nfscacheproxy cache check --dir DIR [--repair]   verify every record and granule checksum; --repair drops what is bad (proxy stopped)
  nfscacheproxy cache cull --dir DIR --to SIZE     cull least recently used objects down to SIZE (proxy stopped)
  nfscacheproxy cache warm [--proxy HOST:PORT] [--export /PATH] PATH...
                                                   read files or trees through a running proxy, filling its cache
  nfscacheproxy cache invalidate [--metrics URL] [--volume ID]
                                                   make a running proxy drop its cached attributes, names and
                                                   listings (all volumes, or one): for static volumes
`

func cmdCache(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, cacheUsage)
		return errors.New("cache: which subcommand?")
	}
	fs := flag.NewFlagSet("cache "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "cache directory")
	switch args[0] {
	case "stats":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		du, err := cache.ReadStats(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-60s %10s %14s\n", "volume", "objects", "bytes")
		for _, v := range du.Volumes {
			fmt.Fprintf(stdout, "%-60s %10d %14d\n", v.Key, v.Objects, v.Bytes)
		}
		fmt.Fprintf(stdout, "%-60s %10d %14d\ngraveyard: %d entries, %d bytes\n", "total", du.Objects, du.Bytes, du.Graveyard, du.GraveyardBytes)
		return nil
	case "check":
		repair := fs.Bool("repair", false, "drop bad records, granules and leftovers (needs the proxy stopped)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rep, err := cache.Check(*dir, *repair, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "objects %d, good granules %d (%d bytes), bad records %d, bad granules %d, misplaced %d, leftovers %d, repaired %d\n",
			rep.Objects, rep.Granules, rep.Bytes, rep.BadRecords, rep.BadGranules, rep.Misplaced, rep.Leftovers, rep.Repaired)
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "  %v\n", p)
		}
		if bad := rep.BadRecords + rep.BadGranules + rep.Misplaced; bad > 0 && !*repair {
			return fmt.Errorf("cache check: %d problems (run with --repair to drop them)", bad)
		}
		return nil
	case "cull":
		to := fs.String("to", "", "target size, e.g. 10GiB")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		target, err := ParseSize(*to)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		s, err := cache.Open(cache.Options{Dir: *dir})
		if err != nil {
			return err
		}
		cerr := s.CullTo(int64(target))
		st := s.Stats()
		if err := s.Close(); err != nil && cerr == nil {
			cerr = err
		}
		// Culled objects wait in the graveyard for the reaper; a one-off
		// command empties it itself (dead inodes only: always safe).
		if ents, err := os.ReadDir(filepath.Join(*dir, "graveyard")); err == nil {
			for _, e := range ents {
				os.RemoveAll(filepath.Join(*dir, "graveyard", e.Name()))
			}
		}
		fmt.Fprintf(stdout, "culled %d objects; %d bytes in %d objects remain\n", st.Culls, st.BytesUsed, st.Objects)
		return cerr
	case "warm":
		return cacheWarm(ctx, fs, args[1:], stdout)
	case "invalidate":
		base := fs.String("metrics", "http://127.0.0.1:9102", "the running proxy's metrics endpoint")
		vol := fs.Int("volume", 0, "volume id; 0: every volume")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		u := strings.TrimRight(*base, "/") + "/admin/invalidate"
		if *vol != 0 {
			u += "?volume=" + strconv.Itoa(*vol)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("cache invalidate: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		fmt.Fprint(stdout, string(body))
		return nil
	}
	fmt.Fprint(stderr, cacheUsage)
	return fmt.Errorf("cache: unknown subcommand %q", args[0])
}

// cacheWarm reads every regular file under the given paths through a
// running proxy, so its own read path (and readahead) fills the cache.
func cacheWarm(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	addr := fs.String("proxy", "127.0.0.1:2049", "the running proxy, HOST:PORT (NFS and MOUNT)")
	export := fs.String("export", "/export", "the volume's mount path")
	uid := fs.Uint("uid", 0, "AUTH_SYS uid to read as")
	gid := fs.Uint("gid", 0, "AUTH_SYS gid to read as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("cache warm: name at least one PATH inside the export")
	}
	i := strings.LastIndex(*addr, ":")
	port, err := strconv.Atoi((*addr)[i+1:])
	if i <= 0 || err != nil {
		return fmt.Errorf("--proxy: %q is not HOST:PORT", *addr)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := upstream.Dial(dctx, upstream.Options{Server: (*addr)[:i], Export: *export, NFSPort: port, MountPort: port, UnprivilegedPort: true})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	w := warmer{ctx: ctx, c: c, cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: "nfscacheproxy-warm", UID: uint32(*uid), GID: uint32(*gid)}}
	start := time.Now()
	for _, p := range fs.Args() {
		fh, err := w.resolve(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := w.walk(fh, p); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "warmed %d files, %d bytes in %v\n", w.files, w.bytes, time.Since(start).Round(time.Millisecond))
	return nil
}

type warmer struct {
	ctx          context.Context
	c            *upstream.Client
	cred         rpc.Cred
	files, bytes int64
}

func (w *warmer) resolve(p string) (nfs3.FH, error) {
	fh := w.c.Root()
	for _, name := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if name == "" {
			continue
		}
		res, err := w.c.Lookup(w.ctx, &w.cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: fh, Name: name}})
		if err != nil {
			return nil, err
		}
		if res.Status != nfs3.StatOK {
			return nil, res.Status
		}
		fh = res.Object
	}
	return fh, nil
}

func (w *warmer) walk(fh nfs3.FH, p string) error {
	ga, err := w.c.Getattr(w.ctx, &w.cred, &nfs3.GetattrArgs{Object: fh})
	if err != nil {
		return err
	}
	if ga.Status != nfs3.StatOK {
		return fmt.Errorf("%s: %w", p, ga.Status)
	}
	switch ga.Attr.Type {
	case nfs3.TypeReg:
		for off := uint64(0); off < ga.Attr.Size; {
			res, err := w.c.Read(w.ctx, &w.cred, &nfs3.ReadArgs{File: fh, Offset: off, Count: 1 << 20})
			if err != nil {
				return err
			}
			if res.Status != nfs3.StatOK {
				return fmt.Errorf("%s: %w", p, res.Status)
			}
			off += uint64(len(res.Data))
			w.bytes += int64(len(res.Data))
			if res.EOF || len(res.Data) == 0 {
				break
			}
		}
		w.files++
	case nfs3.TypeDir:
		var cookie uint64
		var verf [8]byte
		for {
			res, err := w.c.Readdirplus(w.ctx, &w.cred, &nfs3.ReaddirplusArgs{Dir: fh, Cookie: cookie, CookieVerf: verf, DirCount: 8192, MaxCount: 65536})
			if err != nil {
				return err
			}
			if res.Status != nfs3.StatOK {
				return fmt.Errorf("%s: %w", p, res.Status)
			}
			for _, e := range res.Entries {
				cookie = e.Cookie
				if e.Name == "." || e.Name == ".." || !e.FH.Set {
					continue
				}
				if err := w.walk(e.FH.FH, path.Join(p, e.Name)); err != nil {
					return err
				}
			}
			verf = res.CookieVerf
			if res.EOF {
				return nil
			}
		}
	}
	return nil
}
