package coherency

import (
	"context"
	"errors"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// readReply answers every READ with res, and records the arguments.
type readReply struct {
	res   nfs3.ReadRes
	calls int
	args  nfs3.ReadArgs
	cred  rpc.Cred
}

func (r *readReply) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	if proc != nfs3.ProcRead {
		return errors.New("not a READ")
	}
	r.calls++
	r.args, r.cred = *args.(*nfs3.ReadArgs), *cred
	*res.(*nfs3.ReadRes) = r.res
	return nil
}

// TestFetcher: one READ per Fetch with the reader's credential; the
// version rule decides whether its bytes are the version wanted, and a
// change returns them with the new attributes, which are also cached.
func TestFetcher(t *testing.T) {
	v1, v2 := file(42, 1), file(42, 2)
	data := []byte("0123456789")
	for _, tc := range []struct {
		name    string
		res     nfs3.ReadRes
		wantN   int
		wantEOF bool
		wantErr func(error) bool
		cached  bool // v2 is cached afterwards
	}{
		{"same version", nfs3.ReadRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: v1}, Data: data, EOF: true},
			10, true, func(err error) bool { return err == nil }, false},
		{"changed under the fetch", nfs3.ReadRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: v2}, Data: data[:4]},
			4, false, func(err error) bool {
				var ch *Changed
				return errors.As(err, &ch) && ch.Attr == v2 && ch.ChangedTo() == version.Of(&v2)
			}, true},
		{"no post-op attributes", nfs3.ReadRes{Status: nfs3.StatOK, Data: data},
			0, false, func(err error) bool { return errors.Is(err, ErrUnproven) }, false},
		{"error status", nfs3.ReadRes{Status: nfs3.StatStale},
			0, false, func(err error) bool { return errors.Is(err, nfs3.StatStale) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta, _ := newTest(t, Options{})
			up := &readReply{res: tc.res}
			f := Fetcher{Src: &Source{Upstream: up, Meta: meta}, Cred: rpc.Cred{Flavor: rpc.AuthSys, UID: 7}, Want: version.Of(&v1)}
			fh := f.SetHandle(nfs3.FH{1, 2, 3})
			p := make([]byte, 10)
			n, eof, err := f.Fetch(context.Background(), p, 100)
			if n != tc.wantN || eof != tc.wantEOF || !tc.wantErr(err) || string(p[:n]) != string(data[:n]) {
				t.Fatalf("Fetch = %d %q, eof %v, %v; want %d bytes, eof %v", n, p[:n], eof, err, tc.wantN, tc.wantEOF)
			}
			if up.calls != 1 || up.args.Offset != 100 || up.args.Count != 10 || string(up.args.File) != string(fh) || up.cred.UID != 7 {
				t.Fatalf("%d READs, last %+v as uid %d; want 1 of 10 bytes at 100 of %x as uid 7", up.calls, up.args, up.cred.UID, fh)
			}
			got, _, ok := meta.Attr(fh)
			if cached := ok && got == v2; cached != tc.cached {
				t.Fatalf("new attributes cached: %v; want %v", cached, tc.cached)
			}
		})
	}
}
