package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

func TestPolicyAllows(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.5/32")}
	tests := []struct {
		name string
		p    Policy
		addr string
		want bool
	}{
		{"open", Policy{}, "1.2.3.4:5000", true},
		{"in network", Policy{Clients: lan}, "10.9.8.7:700", true},
		{"single host", Policy{Clients: lan}, "192.168.1.5:700", true},
		{"other host", Policy{Clients: lan}, "192.168.1.6:700", false},
		{"v4-mapped v6", Policy{Clients: lan}, "[::ffff:10.1.1.1]:700", true},
		{"secure port ok", Policy{SecurePorts: true}, "1.2.3.4:1023", true},
		{"secure port refused", Policy{SecurePorts: true}, "1.2.3.4:1024", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.allows(netip.MustParseAddrPort(tt.addr)); got != tt.want {
				t.Fatalf("allows(%s) = %v; want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestPolicySquash(t *testing.T) {
	root := rpc.Cred{Flavor: rpc.AuthSys, UID: 0, GID: 0, NGids: 2, Gids: [rpc.MaxGroups]uint32{0, 5}}
	user := rpc.Cred{Flavor: rpc.AuthSys, UID: 1000, GID: 100, NGids: 1, Gids: [rpc.MaxGroups]uint32{7}}
	none := rpc.Cred{Flavor: rpc.AuthNone}
	tests := []struct {
		name             string
		p                Policy
		in               rpc.Cred
		uid, gid, group0 uint32
		ngids            int
	}{
		{"no squash keeps root", Policy{}, root, 0, 0, 0, 2},
		{"root squash", Policy{RootSquash: true, AnonUID: 65534, AnonGID: 65533}, root, 65534, 65533, 65533, 2},
		{"root squash leaves users", Policy{RootSquash: true, AnonUID: 65534, AnonGID: 65533}, user, 1000, 100, 7, 1},
		{"all squash", Policy{AllSquash: true, AnonUID: 99, AnonGID: 98}, user, 99, 98, 0, 0},
		{"auth none is anonymous", Policy{AnonUID: 65534, AnonGID: 65534}, none, 65534, 65534, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			tt.p.squash(&c)
			if c.Flavor != rpc.AuthSys || c.UID != tt.uid || c.GID != tt.gid || c.NGids != tt.ngids || (c.NGids > 0 && c.Gids[0] != tt.group0) {
				t.Fatalf("got %+v; want AUTH_SYS uid %d gid %d groups %d first %d", c, tt.uid, tt.gid, tt.ngids, tt.group0)
			}
		})
	}
}

// TestPolicyEnforced: a client outside the allowed networks is refused at
// MNT and on NFS calls with a handle it made up; squashed credentials are
// what the upstream sees.
func TestPolicyEnforced(t *testing.T) {
	var seen rpc.Cred
	up := &credUpstream{root: nfs3.FH{1, 2, 3, 4}, seen: &seen}
	pol := Policy{Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, RootSquash: true, AnonUID: 65534, AnonGID: 65534}
	// A second volume admits 127.0.0.1, so its connections are accepted
	// and /x's own policy is what refuses them.
	other := Policy{Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	_, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up, Policy: pol},
		{ID: 2, Name: "/y", Upstream: &credUpstream{root: nfs3.FH{5, 6, 7, 8}, seen: new(rpc.Cred)}, Policy: other}}})
	forged := appendHandle(nil, 1, up.root)

	from := func(local string) *rawClient {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return &rawClient{t: t, nc: nc}
	}
	outsider := from("127.0.0.1")
	outsider.sendRecord(callBody(1, nfs3.MountProgram, 3, nfs3.MountProcMnt, &testCred, &nfs3.MntArgs{Path: "/x"}))
	_, r, err := replyHead(t, outsider.readReply())
	var mnt nfs3.MntRes
	if err != nil || mnt.Decode(r) != nil || mnt.Status != nfs3.MountErrAcces {
		t.Fatalf("MNT from outside: %v %v; want MNT3ERR_ACCES", err, mnt.Status)
	}
	if res := getattr3(t, outsider, 2, forged); res.Status != nfs3.StatAcces {
		t.Fatalf("GETATTR with forged handle from outside: %v; want NFS3ERR_ACCES", res.Status)
	}
	insider := from("127.0.0.2")
	if res := getattr3(t, insider, 3, forged); res.Status != nfs3.StatOK {
		t.Fatalf("GETATTR from inside: %v; want OK", res.Status)
	}
	if seen.UID != 65534 || seen.GID != 65534 {
		t.Fatalf("upstream saw uid %d gid %d; want root squashed to 65534", seen.UID, seen.GID)
	}
}

type credUpstream struct {
	root nfs3.FH
	seen *rpc.Cred
}

func (f *credUpstream) Root() nfs3.FH { return f.root }
func (f *credUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	*f.seen = *cred
	if g, ok := res.(*nfs3.GetattrRes); ok {
		g.Attr.Type = nfs3.TypeDir
	}
	return nil
}
