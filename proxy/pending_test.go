package proxy

import (
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestPendingVolumeServedAfterActivate: a volume whose upstream was not
// mounted at start answers MNT with MNT3ERR_SERVERFAULT and NFS calls with
// JUKEBOX (IO when soft) without calling upstream, while another volume
// serves; after Activate it serves too.
func TestPendingVolumeServedAfterActivate(t *testing.T) {
	dir := nfs3.Fattr3{Type: nfs3.TypeDir, Mode: 0o755, Nlink: 2, FileID: 1}
	good := &memUpstream{root: nfs3.FH{1, 1, 1, 1}, attr: dir}
	hard := &memUpstream{root: nfs3.FH{2, 2, 2, 2}, attr: dir}
	soft := &memUpstream{root: nfs3.FH{3, 3, 3, 3}, attr: dir}
	s, addr := startProxy(t, Options{Volumes: []Volume{
		{ID: 1, Name: "/good", Upstream: good},
		{ID: 2, Name: "/hard", Upstream: hard, Pending: true},
		{ID: 3, Name: "/soft", Upstream: soft, Pending: true, Failure: Failure{Soft: true}},
	}})
	c := dialRaw(t, addr)
	xid := uint32(0)
	mnt := func(path string) nfs3.MntRes {
		t.Helper()
		xid++
		c.sendRecord(callBody(xid, nfs3.MountProgram, 3, nfs3.MountProcMnt, &testCred, &nfs3.MntArgs{Path: path}))
		_, r, err := replyHead(t, c.readReply())
		var res nfs3.MntRes
		if err != nil || res.Decode(r) != nil {
			t.Fatalf("MNT %s: %v", path, err)
		}
		return res
	}
	getattr := func(fh nfs3.FH) nfs3.Stat {
		t.Helper()
		xid++
		c.sendRecord(callBody(xid, nfs3.Program, 3, nfs3.ProcGetattr, &testCred, &nfs3.GetattrArgs{Object: fh}))
		_, r, err := replyHead(t, c.readReply())
		var res nfs3.GetattrRes
		if err != nil || res.Decode(r) != nil {
			t.Fatalf("GETATTR: %v", err)
		}
		return res.Status
	}
	if res := mnt("/good"); res.Status != nfs3.MountOK {
		t.Fatalf("MNT /good: %v; want OK", res.Status)
	}
	for _, tc := range []struct {
		path string
		fh   nfs3.FH
		want nfs3.Stat
	}{{"/hard", appendHandle(nil, 2, hard.root), nfs3.StatJukebox}, {"/soft", appendHandle(nil, 3, soft.root), nfs3.StatIO}} {
		if res := mnt(tc.path); res.Status != nfs3.MountErrServerFault {
			t.Fatalf("MNT %s while pending: %v; want MNT3ERR_SERVERFAULT", tc.path, res.Status)
		}
		if st := getattr(tc.fh); st != tc.want {
			t.Fatalf("GETATTR on %s while pending: %v; want %v", tc.path, st, tc.want)
		}
	}
	if st := getattr(appendHandle(nil, 1, good.root)); st != nfs3.StatOK {
		t.Fatalf("GETATTR on /good: %v; want OK", st)
	}

	if err := s.Activate(2, nil); err != nil {
		t.Fatal(err)
	}
	res := mnt("/hard")
	if res.Status != nfs3.MountOK || string(res.FH) != string(appendHandle(nil, 2, hard.root)) {
		t.Fatalf("MNT /hard after Activate: %v %x; want OK with the volume's root", res.Status, res.FH)
	}
	if st := getattr(res.FH); st != nfs3.StatOK {
		t.Fatalf("GETATTR on /hard after Activate: %v; want OK", st)
	}
	if res := mnt("/soft"); res.Status != nfs3.MountErrServerFault {
		t.Fatalf("MNT /soft, still pending: %v; want MNT3ERR_SERVERFAULT", res.Status)
	}
	if err := s.Activate(9, nil); err == nil {
		t.Fatal("Activate of an unknown volume: no error")
	}
}
