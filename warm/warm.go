package warm

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// Client is the NFSv3 client a Walker reads through.
type Client interface {
	Root() nfs3.FH
	Lookup(ctx context.Context, cred *rpc.Cred, a *nfs3.LookupArgs) (*nfs3.LookupRes, error)
	Getattr(ctx context.Context, cred *rpc.Cred, a *nfs3.GetattrArgs) (*nfs3.GetattrRes, error)
	Read(ctx context.Context, cred *rpc.Cred, a *nfs3.ReadArgs) (*nfs3.ReadRes, error)
	Readdirplus(ctx context.Context, cred *rpc.Cred, a *nfs3.ReaddirplusArgs) (*nfs3.ReaddirplusRes, error)
}

// readSize is the count of each READ.
const readSize = 1 << 20

// Walker reads trees through C as Cred. Its zero counters start a walk;
// one Walker is used by one goroutine at a time.
type Walker struct {
	C    Client
	Cred rpc.Cred
	// OnBytes, when set, is called with the size of each READ's data.
	OnBytes func(n int64)

	Files, Bytes int64 // regular files read whole, and bytes read
}

// Resolve looks up p, relative to the root, one component at a time.
// Cleaning p against "/" first keeps every lookup below the root: no ".."
// component is ever sent.
func (w *Walker) Resolve(ctx context.Context, p string) (nfs3.FH, error) {
	fh := w.C.Root()
	for _, name := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if name == "" {
			continue
		}
		res, err := w.C.Lookup(ctx, &w.Cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: fh, Name: name}})
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

// Walk reads fh (named p in errors) whole if it is a regular file, or
// every regular file below it if it is a directory.
func (w *Walker) Walk(ctx context.Context, fh nfs3.FH, p string) error {
	ga, err := w.C.Getattr(ctx, &w.Cred, &nfs3.GetattrArgs{Object: fh})
	if err != nil {
		return err
	}
	if ga.Status != nfs3.StatOK {
		return fmt.Errorf("%s: %w", p, ga.Status)
	}
	switch ga.Attr.Type {
	case nfs3.TypeReg:
		return w.readFile(ctx, fh, p, ga.Attr.Size)
	case nfs3.TypeDir:
		return w.walkDir(ctx, fh, p)
	}
	return nil
}

func (w *Walker) readFile(ctx context.Context, fh nfs3.FH, p string, size uint64) error {
	for off := uint64(0); off < size; {
		res, err := w.C.Read(ctx, &w.Cred, &nfs3.ReadArgs{File: fh, Offset: off, Count: readSize})
		if err != nil {
			return err
		}
		if res.Status != nfs3.StatOK {
			return fmt.Errorf("%s: %w", p, res.Status)
		}
		off += uint64(len(res.Data))
		w.Bytes += int64(len(res.Data))
		if w.OnBytes != nil {
			w.OnBytes(int64(len(res.Data)))
		}
		if res.EOF || len(res.Data) == 0 {
			break
		}
	}
	w.Files++
	return nil
}

func (w *Walker) walkDir(ctx context.Context, fh nfs3.FH, p string) error {
	var cookie uint64
	var verf [8]byte
	for {
		res, err := w.C.Readdirplus(ctx, &w.Cred, &nfs3.ReaddirplusArgs{Dir: fh, Cookie: cookie, CookieVerf: verf, DirCount: 8192, MaxCount: 65536})
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
			if err := w.Walk(ctx, e.FH.FH, path.Join(p, e.Name)); err != nil {
				return err
			}
		}
		verf = res.CookieVerf
		if res.EOF {
			return nil
		}
	}
}
