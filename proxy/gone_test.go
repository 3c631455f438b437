package proxy

import (
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestClientAtItsBoundLeavingCancelsItsCalls: a client that fills its
// per-connection slots with calls to a hung upstream and disconnects gets
// them cancelled at once, though nothing was reading its socket (it was at
// its bound): the slots come back long before the request timeout.
func TestClientAtItsBoundLeavingCancelsItsCalls(t *testing.T) {
	const perConn = 4
	hung := &hungUpstream{root: nfs3.FH{9, 9, 9, 9}}
	s, addr := startProxy(t, Options{PerConnLimit: perConn, Volumes: []Volume{{ID: 1, Name: "/hung", Upstream: hung}}})
	c := dialRaw(t, addr)
	root := appendHandle(nil, 1, hung.root)
	for i := range perConn {
		c.sendRecord(callBody(uint32(10+i), nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: root}))
	}
	await.Until(t, "the calls to wait on the hung upstream", func() bool { return hung.waiting.Load() == perConn })
	c.nc.Close()
	await.Until(t, "the calls to be cancelled once the client is gone", func() bool {
		return hung.waiting.Load() == 0 && s.Stats().InFlight == 0
	})
}
