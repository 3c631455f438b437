package integration

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// rpcConn is a raw record-marked RPC connection for protocol-level tests.
type rpcConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRPC(t *testing.T, addr string) *rpcConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rpcConn{t: t, nc: nc}
}

func (c *rpcConn) call(xid, prog, vers, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	c.t.Helper()
	w := xdr.NewWriter(nil)
	w.Uint32(0)
	rpc.EncodeCall(w, xid, prog, vers, proc, &rpc.Cred{Flavor: rpc.AuthSys, Machine: "itest"})
	if args != nil {
		args.Encode(w)
	}
	rpc.SetRecordHeader(w.Buf)
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(w.Buf); err != nil {
		c.t.Fatal(err)
	}
	rec, err := rpc.ReadRecord(c.nc, nil, 1<<20)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	r := xdr.NewReader(rec)
	gotXID, err := rpc.DecodeReply(r)
	if gotXID != xid {
		c.t.Fatalf("reply xid %d; want %d", gotXID, xid)
	}
	if err != nil || res == nil {
		return err
	}
	return res.Decode(r)
}

type noArgs struct{}

func (noArgs) Encode(*xdr.Writer) {}

// TestMountProtocol exercises all six MOUNT procedures on the proxy.
func TestMountProtocol(t *testing.T) {
	e := startEnv(t)
	c := dialRPC(t, e.addr)
	if err := c.call(1, nfs3.MountProgram, 3, nfs3.MountProcNull, noArgs{}, nil); err != nil {
		t.Fatalf("NULL: %v", err)
	}
	var mnt nfs3.MntRes
	if err := c.call(2, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/export"}, &mnt); err != nil || mnt.Status != nfs3.MountOK {
		t.Fatalf("MNT /export: %v %v", err, mnt.Status)
	}
	if len(mnt.AuthFlavors) == 0 || mnt.AuthFlavors[0] != rpc.AuthSys {
		t.Fatalf("MNT flavors %v; want AUTH_SYS first", mnt.AuthFlavors)
	}
	if err := c.call(3, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/nope"}, &mnt); err != nil || mnt.Status != nfs3.MountErrNoEnt {
		t.Fatalf("MNT /nope: %v %v; want MNT3ERR_NOENT", err, mnt.Status)
	}
	var ex nfs3.ExportRes
	if err := c.call(4, nfs3.MountProgram, 3, nfs3.MountProcExport, noArgs{}, &ex); err != nil || len(ex.Exports) != 1 || ex.Exports[0].Dir != "/export" {
		t.Fatalf("EXPORT: %v %+v; want one /export", err, ex.Exports)
	}
	var dump nfs3.DumpRes
	if err := c.call(5, nfs3.MountProgram, 3, nfs3.MountProcDump, noArgs{}, &dump); err != nil || len(dump.Mounts) != 1 || dump.Mounts[0].Dir != "/export" || dump.Mounts[0].Hostname != "127.0.0.1" {
		t.Fatalf("DUMP: %v %+v; want 127.0.0.1:/export", err, dump.Mounts)
	}
	if err := c.call(6, nfs3.MountProgram, 3, nfs3.MountProcUmnt, &nfs3.UmntArgs{Path: "/export"}, nil); err != nil {
		t.Fatalf("UMNT: %v", err)
	}
	if err := c.call(7, nfs3.MountProgram, 3, nfs3.MountProcDump, noArgs{}, &dump); err != nil || len(dump.Mounts) != 0 {
		t.Fatalf("DUMP after UMNT: %v %+v; want empty", err, dump.Mounts)
	}
	c.call(8, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/export/"}, &mnt)
	if err := c.call(9, nfs3.MountProgram, 3, nfs3.MountProcUmntall, noArgs{}, nil); err != nil {
		t.Fatalf("UMNTALL: %v", err)
	}
	if err := c.call(10, nfs3.MountProgram, 3, nfs3.MountProcDump, noArgs{}, &dump); err != nil || len(dump.Mounts) != 0 {
		t.Fatalf("DUMP after UMNTALL: %v %+v; want empty", err, dump.Mounts)
	}
	// The MNT handle is the one NFS calls work with.
	if err := c.call(11, nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: "/export"}, &mnt); err != nil {
		t.Fatal(err)
	}
	var ga nfs3.GetattrRes
	if err := c.call(12, nfs3.Program, 3, nfs3.ProcNull, noArgs{}, nil); err != nil {
		t.Fatalf("NFS NULL: %v", err)
	}
	if err := c.call(13, nfs3.Program, 3, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: mnt.FH}, &ga); err != nil || ga.Status != nfs3.StatOK {
		t.Fatalf("GETATTR of MNT handle: %v %v", err, ga.Status)
	}
}

// TestMalformedInputAgainstRealUpstream: garbage on one connection gets the
// protocol's answer and the proxy keeps serving another connection.
func TestMalformedInputAgainstRealUpstream(t *testing.T) {
	e := startEnv(t)
	bad := dialRPC(t, e.addr)
	var re *rpc.ReplyError
	if err := bad.call(1, nfs3.Program, 3, nfs3.ProcLookup, noArgs{}, nil); !errors.As(err, &re) || re.AcceptStat != rpc.GarbageArgs {
		t.Fatalf("LOOKUP without args: %v; want GARBAGE_ARGS", err)
	}
	if err := bad.call(2, nfs3.Program, 2, nfs3.ProcGetattr, noArgs{}, nil); !errors.As(err, &re) || re.AcceptStat != rpc.ProgMismatch || re.Low != 3 || re.High != 3 {
		t.Fatalf("NFSv2: %v; want PROG_MISMATCH 3-3", err)
	}
	var ga nfs3.GetattrRes
	bad.call(3, nfs3.Program, 3, nfs3.ProcGetattr, &nfs3.GetattrArgs{Object: nfs3.FH{1, 0, 0, 9, 1, 2, 3}}, &ga)
	if ga.Status != nfs3.StatBadHandle {
		t.Fatalf("GETATTR of unknown volume: %v; want BADHANDLE", ga.Status)
	}
	// A truncated record, then the connection drops.
	half := dialRPC(t, e.addr)
	half.nc.Write([]byte{0x80, 0, 1, 0, 1, 2, 3})
	half.nc.Close()
	good := e.proxyClient(0, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := good.c.Getattr(ctx, &good.cred, &nfs3.GetattrArgs{Object: good.root()}); err != nil {
		t.Fatalf("a well-behaved client after the garbage: %v", err)
	}
}
