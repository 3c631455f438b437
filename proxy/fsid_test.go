package proxy

import (
	"bytes"
	"context"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// fsidUpstream says handle {9,...} lies on filesystem 99, anything else on 1,
// and counts the calls that are not GETATTR.
type fsidUpstream struct {
	root   nfs3.FH
	others int
}

func (f *fsidUpstream) Root() nfs3.FH { return f.root }
func (f *fsidUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	switch a := args.(type) {
	case *nfs3.GetattrArgs:
		fsid := uint64(1)
		if bytes.HasPrefix(a.Object, []byte{9}) {
			fsid = 99
		}
		res.(*nfs3.GetattrRes).Attr = nfs3.Fattr3{Type: nfs3.TypeReg, FSID: fsid, FileID: 5}
	default:
		f.others++
	}
	return nil
}

// TestForeignFSIDIsStale: a handle whose object lies on another filesystem
// than the volume's is NFS3ERR_STALE, and the call it came with never
// reaches the upstream.
func TestForeignFSIDIsStale(t *testing.T) {
	up := &fsidUpstream{root: nfs3.FH{1, 1, 1, 1}}
	_, addr := startProxy(t, Options{Volumes: []Volume{{ID: 1, Name: "/x", Upstream: up, FSIDs: []uint64{1}}}})
	c := dialRaw(t, addr)
	if res := getattr3(t, c, 1, appendHandle(nil, 1, nfs3.FH{1, 2, 3, 4})); res.Status != nfs3.StatOK {
		t.Fatalf("handle on the volume's filesystem: %v; want OK", res.Status)
	}
	foreign := appendHandle(nil, 1, nfs3.FH{9, 2, 3, 4})
	if res := getattr3(t, c, 2, foreign); res.Status != nfs3.StatStale {
		t.Fatalf("GETATTR of a handle on fsid 99: %v; want NFS3ERR_STALE", res.Status)
	}
	c.sendRecord(callBody(3, nfs3.Program, 3, nfs3.ProcRemove, &testCred, &nfs3.RemoveArgs{Object: nfs3.DirOpArgs{Dir: foreign, Name: "x"}}))
	_, r, err := replyHead(t, c.readReply())
	var rm nfs3.RemoveRes
	if err != nil || rm.Decode(r) != nil || rm.Status != nfs3.StatStale {
		t.Fatalf("REMOVE in a foreign directory: %v %v; want NFS3ERR_STALE", err, rm.Status)
	}
	if up.others != 0 {
		t.Fatalf("%d calls reached the upstream with a foreign handle; want 0", up.others)
	}
}
