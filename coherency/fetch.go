package coherency

import (
	"context"
	"errors"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// The data cache's fetcher: the one place that decides whether bytes read
// from the upstream to fill the data cache are of the version being
// cached. The proxy validates the file's attributes (Cache.Attr, or a
// revalidation), fills in a Fetcher for that version and hands it to the
// data cache, which calls Fetch once per missing range (single-flight per
// granule). Each Fetch is one upstream READ with the reader's credential;
// its post-op attributes decide, by version.Same, whether the bytes are
// the version asked for. When they are not, the bytes are still the
// upstream's current ones, of the version the attributes name: Fetch
// returns them with a *Changed error carrying those attributes, which it
// has also cached (PutAttr). The data cache serves them to the readers of
// that fetch without storing them, and the proxy answers with the
// attributes the error carries, so a change under a miss costs no second
// READ and never stores new bytes under the old version.

// Reader is what a Fetcher needs from the upstream: one call by procedure
// number with the caller's credential. *upstream.Client implements it.
type Reader interface {
	Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error
}

// Source is where one volume's Fetchers read from. It is made once per
// volume, so that a Fetcher stays small.
type Source struct {
	Upstream Reader
	Meta     *Cache        // attributes learnt from a changed fetch go here
	Timeout  time.Duration // bounds one Fetch (0: ctx alone)
}

// Fetcher reads one file's bytes from the upstream for the data cache
// (it implements cache.Fetcher). Fill in every field and SetHandle. It
// holds a copy of the handle, because readahead may use it after the
// request that made it is gone, and is small enough to live in a
// request, so a cache hit allocates nothing.
type Fetcher struct {
	Src   *Source
	Cred  rpc.Cred        // the reader that caused the fetch
	Want  version.Version // the version being cached
	fhLen int
	fh    [nfs3.FHSize]byte
}

// SetHandle sets the file fetched from (a copy of fh) and returns the copy.
func (f *Fetcher) SetHandle(fh nfs3.FH) nfs3.FH {
	f.fhLen = copy(f.fh[:], fh)
	return f.fh[:f.fhLen]
}

// Changed is Fetch's error when the file changed under the fetch: the
// bytes it read are the upstream's current ones, with attributes Attr,
// not of the version asked for. (It implements cache.Changed.)
type Changed struct {
	Attr nfs3.Fattr3
}

func (c *Changed) Error() string { return "coherency: file changed under a fetch" }

// ChangedTo is the version the fetched bytes are of.
func (c *Changed) ChangedTo() version.Version { return version.Of(&c.Attr) }

// ErrUnproven is Fetch's error when a READ reply has no post-op
// attributes: nothing says which version its bytes are, so they are not
// served from the cache path at all.
var ErrUnproven = errors.New("coherency: read reply without attributes")

// Fetch reads len(p) bytes at off: one upstream READ. It returns the bytes
// read and whether the file ended; when the reply's post-op attributes
// are not the version f wants, the bytes with a *Changed error.
func (f *Fetcher) Fetch(ctx context.Context, p []byte, off int64) (int, bool, error) {
	if f.Src.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Src.Timeout)
		defer cancel()
	}
	fh := nfs3.FH(f.fh[:f.fhLen])
	ra := nfs3.ReadArgs{File: fh, Offset: uint64(off), Count: uint32(len(p))}
	var rr nfs3.ReadRes
	if err := f.Src.Upstream.Call(ctx, &f.Cred, nfs3.ProcRead, &ra, &rr); err != nil {
		return 0, false, err
	}
	if rr.Status != nfs3.StatOK {
		return 0, false, rr.Status
	}
	if !rr.Attr.Set {
		return 0, false, ErrUnproven
	}
	n := copy(p, rr.Data)
	if !version.Same(version.Of(&rr.Attr.Attr), f.Want) {
		f.Src.Meta.PutAttr(fh, rr.Attr.Attr)
		return n, rr.EOF, &Changed{Attr: rr.Attr.Attr}
	}
	return n, rr.EOF, nil
}
