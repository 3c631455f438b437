package upstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestCallThatKillsTheConnectionIsNotSentAThirdTime: an upstream that dies
// (drops every connection) whenever it receives a certain LOOKUP — as
// nfs-ganesha 4.3 aborts on some names — receives it twice, not forever,
// even in hard mode; the call fails with ErrSuspectCall, classified Fail
// (NFS3ERR_IO for the client, not JUKEBOX, which would bring it back), and
// other calls go on being served.
func TestCallThatKillsTheConnectionIsNotSentAThirdTime(t *testing.T) {
	var s *fakeServer
	s = newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		if h.Proc == nfs3.ProcLookup {
			go s.dropConns()
			return false
		}
		getattrOK(h, w)
		return true
	})
	c := dialFake(t, s, Options{Conns: 1, Hard: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Lookup(ctx, &cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: nfs3.FH{9, 9}, Name: "../up1"}})
	if !errors.Is(err, ErrSuspectCall) || Classify(err) != Fail {
		t.Fatalf("LOOKUP that kills the connection: %v (class %v); want ErrSuspectCall, class Fail", err, Classify(err))
	}
	if n := s.calls[nfs3.ProcLookup].Load(); n != maxLostAttempts {
		t.Fatalf("LOOKUP sent %d times; want %d", n, maxLostAttempts)
	}
	if got := c.Stats().Abandoned; got != 1 {
		t.Fatalf("Abandoned = %d; want 1", got)
	}
	if _, err := c.Getattr(ctx, &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}}); err != nil {
		t.Fatalf("GETATTR afterwards: %v; want served", err)
	}
}
