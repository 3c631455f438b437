package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// limitTarget is a server under test: the proxy, or ganesha directly.
type limitTarget struct {
	name      string
	nfs, mnt  string // host:port of NFS and MOUNT
	root, big nfs3.FH
	xid       uint32
}

// call sends one call with cred on a fresh connection and describes the
// answer: "closed" when the server closed the connection instead,
// "denied auth N" or "accepted N" for an RPC-level refusal, else what
// describe makes of the decoded result.
func (lt *limitTarget) call(t *testing.T, addr string, prog, proc uint32, cred *rpc.Cred, args xdr.Encoder, res xdr.Decoder, describe func() string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	lt.xid++
	w := xdr.NewWriter(nil)
	w.Uint32(0)
	rpc.EncodeCall(w, lt.xid, prog, 3, proc, cred)
	args.Encode(w)
	rpc.SetRecordHeader(w.Buf)
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := nc.Write(w.Buf); err != nil {
		return "closed"
	}
	rec, err := rpc.ReadRecord(nc, nil, 8<<20)
	if err != nil {
		return "closed"
	}
	r := xdr.NewReader(rec)
	if _, err := rpc.DecodeReply(r); err != nil {
		var re *rpc.ReplyError
		if errors.As(err, &re) {
			if re.Denied {
				return fmt.Sprintf("denied auth %d", re.AuthStat)
			}
			return fmt.Sprintf("accepted %d", re.AcceptStat)
		}
		t.Fatalf("%s: reply: %v", lt.name, err)
	}
	if err := res.Decode(r); err != nil {
		t.Fatalf("%s: decode result: %v", lt.name, err)
	}
	return describe()
}

// TestProtocolLimits: each limit the proxy imposes, at the limit and one
// past it, through the proxy and directly against ganesha. At the limit
// the proxy answers as ganesha does; past it, with the documented answer
// (README "Protocol limits"), never a silent failure.
func TestProtocolLimits(t *testing.T) {
	e := startEnv(t)
	proxyT := &limitTarget{name: "proxy", nfs: e.addr, mnt: e.addr}
	directT := &limitTarget{name: "ganesha", nfs: net.JoinHostPort(e.g.Host, strconv.Itoa(e.g.NFSPort)), mnt: net.JoinHostPort(e.g.Host, strconv.Itoa(e.g.MountPort))}
	proxyT.root = e.proxyClient(0, 0).root()
	directT.root = e.directClient(0, 0).root()
	root := rpc.Cred{Flavor: rpc.AuthSys, Machine: "limits"}

	create := func(lt *limitTarget, name string) string {
		var res nfs3.CreateRes
		return lt.call(t, lt.nfs, nfs3.Program, nfs3.ProcCreate, &root,
			&nfs3.CreateArgs{Where: nfs3.DirOpArgs{Dir: lt.root, Name: name}, Mode: nfs3.CreateGuarded, Attr: nfs3.Sattr3{SetMode: true, Mode: 0o644}},
			&res, func() string { return res.Status.String() })
	}
	symlinkRoundTrip := func(lt *limitTarget, name, target string) string {
		var res nfs3.CreateRes
		got := lt.call(t, lt.nfs, nfs3.Program, nfs3.ProcSymlink, &root,
			&nfs3.SymlinkArgs{Where: nfs3.DirOpArgs{Dir: lt.root, Name: name}, Attr: nfs3.Sattr3{SetMode: true, Mode: 0o777}, Path: target},
			&res, func() string { return res.Status.String() })
		if got != nfs3.StatOK.String() || !res.Obj.Set {
			return got
		}
		var rl nfs3.ReadlinkRes
		return lt.call(t, lt.nfs, nfs3.Program, nfs3.ProcReadlink, &root, &nfs3.ReadlinkArgs{Object: res.Obj.FH}, &rl, func() string {
			if rl.Status != nfs3.StatOK {
				return "readlink " + rl.Status.String()
			}
			if rl.Path != target {
				return fmt.Sprintf("readlink gave %d bytes, not the %d sent", len(rl.Path), len(target))
			}
			return "OK, read back"
		})
	}
	mount := func(lt *limitTarget, path string) string {
		var res nfs3.MntRes
		return lt.call(t, lt.mnt, nfs3.MountProgram, nfs3.MountProcMnt, &root, &nfs3.MntArgs{Path: path}, &res,
			func() string { return res.Status.String() })
	}
	getattrAs := func(lt *limitTarget, cred rpc.Cred) string {
		var res nfs3.GetattrRes
		return lt.call(t, lt.nfs, nfs3.Program, nfs3.ProcGetattr, &cred, &nfs3.GetattrArgs{Object: lt.root}, &res,
			func() string { return res.Status.String() })
	}
	if err := os.WriteFile(filepath.Join(e.g.Dir, "big"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	proxyT.big = e.proxyClient(0, 0).mustLookup(proxyT.root, "big")
	directT.big = e.directClient(0, 0).mustLookup(directT.root, "big")
	read := func(lt *limitTarget, count uint32) string {
		var res nfs3.ReadRes
		return lt.call(t, lt.nfs, nfs3.Program, nfs3.ProcRead, &root, &nfs3.ReadArgs{File: lt.big, Count: count}, &res,
			func() string { return fmt.Sprintf("%v %d bytes eof %v", res.Status, len(res.Data), res.EOF) })
	}
	getattrFH := func(lt *limitTarget, fh nfs3.FH) string {
		var res nfs3.GetattrRes
		return lt.call(t, lt.nfs, nfs3.Program, nfs3.ProcGetattr, &root, &nfs3.GetattrArgs{Object: fh}, &res,
			func() string { return res.Status.String() })
	}
	sixteen := root
	sixteen.NGids = rpc.MaxGroups
	for i := range sixteen.Gids {
		sixteen.Gids[i] = uint32(100 + i)
	}

	tests := []struct {
		limit          string
		proxy          func(lt *limitTarget) string
		wantProxy      string // "" = the same as directly
		sameAsDirectly bool
	}{
		{limit: "name of 255 bytes (NAME_MAX)", proxy: func(lt *limitTarget) string { return create(lt, lt.name[:1]+strings.Repeat("n", 254)) }, sameAsDirectly: true},
		{limit: "name of 256 bytes", proxy: func(lt *limitTarget) string { return create(lt, lt.name[:1]+strings.Repeat("m", 255)) }, wantProxy: nfs3.StatNameTooLong.String()},
		{limit: "symlink target of 4095 bytes", proxy: func(lt *limitTarget) string {
			return symlinkRoundTrip(lt, lt.name+"-l4095", strings.Repeat("t/", 2047)+"x")
		}, wantProxy: "OK, read back", sameAsDirectly: true},
		{limit: "symlink target of 4097 bytes", proxy: func(lt *limitTarget) string { return symlinkRoundTrip(lt, lt.name+"-l4097", strings.Repeat("u", 4097)) }, wantProxy: nfs3.StatNameTooLong.String()},
		{limit: "MNT dirpath of 1024 bytes (MNTPATHLEN)", proxy: func(lt *limitTarget) string { return mount(lt, "/"+strings.Repeat("d", 1023)) }, wantProxy: nfs3.MountErrNoEnt.String()},
		{limit: "MNT dirpath of 1025 bytes", proxy: func(lt *limitTarget) string { return mount(lt, "/"+strings.Repeat("d", 1024)) }, wantProxy: nfs3.MountErrNameTooLong.String()},
		{limit: "READ of 1 MiB (FSINFO rtmax)", proxy: func(lt *limitTarget) string { return read(lt, 1<<20) }, wantProxy: "NFS3_OK 1048576 bytes eof false", sameAsDirectly: true},
		{limit: "READ of 4 MiB", proxy: func(lt *limitTarget) string { return read(lt, 4<<20) }, wantProxy: "NFS3_OK 1048576 bytes eof false"},
		{limit: "file handle of 64 bytes (NFS3_FHSIZE), unknown", proxy: func(lt *limitTarget) string { return getattrFH(lt, make(nfs3.FH, 64)) }, wantProxy: nfs3.StatBadHandle.String()},
		{limit: "AUTH_SYS with 16 groups", proxy: func(lt *limitTarget) string { return getattrAs(lt, sixteen) }, wantProxy: nfs3.StatOK.String(), sameAsDirectly: true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.limit, " ", "_"), func(t *testing.T) {
			got, direct := tt.proxy(proxyT), tt.proxy(directT)
			t.Logf("%s: through the proxy %s; directly %s", tt.limit, got, direct)
			if tt.wantProxy != "" && got != tt.wantProxy {
				t.Fatalf("%s through the proxy: %s; want %s", tt.limit, got, tt.wantProxy)
			}
			if tt.sameAsDirectly && got != direct {
				t.Fatalf("%s through the proxy: %s; want %s, as ganesha answers directly", tt.limit, got, direct)
			}
		})
	}
}

// TestLongSymlinkWithGoNFSClient: go-nfs-client, an independent client,
// creates a symlink with a 4,095-byte target through the proxy as it does
// directly against ganesha; the target on disk is exactly what was sent,
// and READLINK through the proxy gives it back.
func TestLongSymlinkWithGoNFSClient(t *testing.T) {
	e := startEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	target := strings.Repeat("abc/", 1023) + "xyz" // 4,095 bytes
	viaProxy, err := harness.DialNFS(ctx, e.addr, e.addr, "/export", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()
	direct, err := e.g.DialNFS(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	for name, c := range map[string]interface{ Symlink(src, dst string) error }{"proxy-link": viaProxy, "direct-link": direct} {
		if err := c.Symlink(target, name); err != nil {
			t.Fatalf("go-nfs-client Symlink %s with a %d-byte target: %v", name, len(target), err)
		}
		got, err := os.Readlink(filepath.Join(e.g.Dir, name))
		if err != nil || got != target {
			t.Fatalf("%s on the upstream's disk: %d bytes, %v; want the %d-byte target", name, len(got), err, len(target))
		}
	}
	p := e.proxyClient(0, 0)
	res, err := p.c.Readlink(p.ctx, &p.cred, &nfs3.ReadlinkArgs{Object: p.mustLookup(p.root(), "proxy-link")})
	if err != nil || res.Status != nfs3.StatOK || res.Path != target {
		t.Fatalf("READLINK through the proxy: %v %v, %d bytes; want the %d-byte target", err, res.Status, len(res.Path), len(target))
	}
}
