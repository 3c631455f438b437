package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// TestOneClientCannotLockOthersOut: a host that opens more connections
// than MaxConnsPerClient has the extra ones closed at once, while another
// host is still served; a host no volume admits is closed at accept.
func TestOneClientCannotLockOthersOut(t *testing.T) {
	const perClient = 8
	up := &credUpstream{root: nfs3.FH{1, 2, 3, 4}, seen: new(rpc.Cred)}
	pol := Policy{Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("127.0.0.2/32")}}
	s, addr := startProxy(t, Options{MaxConnsPerClient: perClient, Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up, Policy: pol}}})
	root := appendHandle(nil, 1, up.root)
	from := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	var hog []*rawClient
	for i := range perClient {
		c := &rawClient{t: t, nc: from("127.0.0.1")}
		if res := getattr3(t, c, uint32(i), root); res.Status != nfs3.StatOK {
			t.Fatalf("connection %d of the first host: %v", i, res.Status)
		}
		hog = append(hog, c)
	}
	for range 20 {
		if nc := from("127.0.0.1"); !closedByServer(nc) {
			t.Fatal("a connection past MaxConnsPerClient stayed open; want it closed at once")
		}
	}
	if got := s.ConnStats().RejectedPerClient; got != 20 {
		t.Fatalf("RejectedPerClient = %d; want 20", got)
	}
	other := &rawClient{t: t, nc: from("127.0.0.2")}
	if res := getattr3(t, other, 100, root); res.Status != nfs3.StatOK {
		t.Fatalf("another host while the first is at its bound: %v; want served", res.Status)
	}
	if res := getattr3(t, hog[0], 101, root); res.Status != nfs3.StatOK {
		t.Fatalf("the first host's open connections: %v; want still served", res.Status)
	}
	if nc := from("127.0.0.3"); !closedByServer(nc) {
		t.Fatal("a host no volume admits stayed connected; want it closed at accept")
	}
	if got := s.ConnStats().NotAdmitted; got != 1 {
		t.Fatalf("NotAdmitted = %d; want 1", got)
	}
}
