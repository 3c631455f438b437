package portmap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

var transports = []string{"tcp", "udp"}

func testMappings() Options {
	ms := ProxyMappings(2049, 20048, 111)
	ms = append(ms, Mapping{Prog: 100099, Vers: 1, Netid: "tcp", Addr: "10.1.2.3.4.5", Owner: "someone"})
	return Options{Mappings: ms}
}

func TestGetport(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	tests := []struct {
		name                  string
		prog, vers, prot, got uint32
	}{
		{"nfs v3 tcp", ProgNFS, 3, ProtTCP, 2049},
		{"mount v3 tcp", ProgMount, 3, ProtTCP, 20048},
		{"mount v3 udp not mapped", ProgMount, 3, ProtUDP, 0},
		{"nfs v4 falls back to another version", ProgNFS, 4, ProtTCP, 2049},
		{"portmapper udp", ProgPortmap, 2, ProtUDP, 111},
		{"unknown program", 100021, 4, ProtTCP, 0},
		{"unknown protocol", ProgNFS, 3, 99, 0},
		{"explicit addr mapping", 100099, 1, ProtTCP, 0},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				addr := s.tcp
				if tr == "udp" {
					addr = s.udp
				}
				r, err := call(t, tr, addr, 2, pmapGetport, mapping(tt.prog, tt.vers, tt.prot, 0))
				if err != nil {
					t.Fatalf("GETPORT: %v", err)
				}
				if got := r.Uint32(); got != tt.got || r.Err() != nil {
					t.Errorf("GETPORT: got %d (err %v); want %d", got, r.Err(), tt.got)
				}
			})
		}
	}
}

func TestGetaddr(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	tests := []struct {
		name       string
		vers, proc uint32
		prog, pv   uint32
		netid      string
		want       string
	}{
		{"v3 nfs tcp", 3, rpcbGetaddr, ProgNFS, 3, "tcp", "127.0.0.1.8.1"},
		{"v4 nfs tcp", 4, rpcbGetaddr, ProgNFS, 3, "tcp", "127.0.0.1.8.1"},
		{"v4 mount tcp", 4, rpcbGetaddr, ProgMount, 3, "tcp", "127.0.0.1.78.80"},
		{"v4 nfs tcp6 asked over ipv4", 4, rpcbGetaddr, ProgNFS, 3, "tcp6", "::ffff:127.0.0.1.8.1"},
		{"v4 netid case", 4, rpcbGetaddr, ProgNFS, 3, "TCP", "127.0.0.1.8.1"},
		{"v4 mount udp not mapped", 4, rpcbGetaddr, ProgMount, 3, "udp", ""},
		{"v4 unknown program", 4, rpcbGetaddr, 100021, 4, "tcp", ""},
		{"v4 other version falls back", 4, rpcbGetaddr, ProgNFS, 4, "tcp", "127.0.0.1.8.1"},
		{"v4 getversaddr exact", 4, rpcbGetversaddr, ProgNFS, 3, "tcp", "127.0.0.1.8.1"},
		{"v4 getversaddr other version", 4, rpcbGetversaddr, ProgNFS, 4, "tcp", ""},
		{"v3 explicit addr", 3, rpcbGetaddr, 100099, 1, "tcp", "10.1.2.3.4.5"},
		{"v4 portmapper", 4, rpcbGetaddr, ProgPortmap, 4, "udp", "127.0.0.1.0.111"},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				addr := s.tcp
				if tr == "udp" {
					addr = s.udp
				}
				r, err := call(t, tr, addr, tt.vers, tt.proc, rpcbArgs(tt.prog, tt.pv, tt.netid, "", ""))
				if err != nil {
					t.Fatalf("GETADDR: %v", err)
				}
				if got := mustString(t, r); got != tt.want {
					t.Errorf("GETADDR: got %q; want %q", got, tt.want)
				}
			})
		}
	}
	// An empty netid means the transport the query came on.
	for _, tr := range transports {
		addr := s.tcp
		if tr == "udp" {
			addr = s.udp
		}
		r, err := call(t, tr, addr, 4, rpcbGetaddr, rpcbArgs(ProgPortmap, 2, "", "", ""))
		if err != nil {
			t.Fatalf("GETADDR: %v", err)
		}
		if got, want := mustString(t, r), "127.0.0.1.0.111"; got != want {
			t.Errorf("%s GETADDR with empty netid: got %q; want %q", tr, got, want)
		}
	}
}

func TestGetaddrIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
	checkNoLeak(t)
	s := startServer(t, "::1", testMappings())
	for _, tr := range transports {
		addr := s.tcp
		if tr == "udp" {
			addr = s.udp
		}
		// An empty netid is the query's own: tcp6 or udp6; NFS is on tcp6 only.
		want := "::1.8.1"
		if tr == "udp" {
			want = ""
		}
		r, err := call(t, tr, addr, 4, rpcbGetaddr, rpcbArgs(ProgNFS, 3, "", "", ""))
		if err != nil {
			t.Fatalf("GETADDR: %v", err)
		}
		if got := mustString(t, r); got != want {
			t.Errorf("%s GETADDR over IPv6, empty netid: got %q; want %q", tr, got, want)
		}
		r, err = call(t, tr, addr, 4, rpcbGetaddr, rpcbArgs(ProgNFS, 3, "tcp6", "", ""))
		if err != nil {
			t.Fatalf("GETADDR: %v", err)
		}
		if got := mustString(t, r); got != "::1.8.1" {
			t.Errorf("%s GETADDR over IPv6, netid tcp6: got %q; want \"::1.8.1\"", tr, got)
		}
		r, err = call(t, tr, addr, 4, rpcbGetaddr, rpcbArgs(ProgNFS, 3, "tcp", "", ""))
		if err != nil {
			t.Fatalf("GETADDR: %v", err)
		}
		if got := mustString(t, r); got != "" {
			t.Errorf("%s GETADDR netid tcp over IPv6: got %q; want \"\"", tr, got)
		}
	}
}

type pmapEntry struct{ Prog, Vers, Prot, Port uint32 }

type rpcbEntry struct {
	Prog, Vers         uint32
	Netid, Addr, Owner string
}

func TestDump(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	var want2 []pmapEntry
	for _, v := range []uint32{4, 3, 2} {
		want2 = append(want2, pmapEntry{ProgPortmap, v, ProtTCP, 111}, pmapEntry{ProgPortmap, v, ProtUDP, 111})
	}
	want2 = append(want2, pmapEntry{ProgNFS, 3, ProtTCP, 2049}, pmapEntry{ProgMount, 3, ProtTCP, 20048}, pmapEntry{100099, 1, ProtTCP, 0})
	var want34 []rpcbEntry
	for _, v := range []uint32{4, 3, 2} {
		for _, n := range []string{"tcp", "udp", "tcp6", "udp6"} {
			a := "127.0.0.1.0.111"
			if strings.HasSuffix(n, "6") {
				a = "::ffff:" + a
			}
			want34 = append(want34, rpcbEntry{ProgPortmap, v, n, a, "superuser"})
		}
	}
	want34 = append(want34,
		rpcbEntry{ProgNFS, 3, "tcp", "127.0.0.1.8.1", "superuser"},
		rpcbEntry{ProgNFS, 3, "tcp6", "::ffff:127.0.0.1.8.1", "superuser"},
		rpcbEntry{ProgMount, 3, "tcp", "127.0.0.1.78.80", "superuser"},
		rpcbEntry{ProgMount, 3, "tcp6", "::ffff:127.0.0.1.78.80", "superuser"},
		rpcbEntry{100099, 1, "tcp", "10.1.2.3.4.5", "someone"},
	)
	for _, tr := range transports {
		addr := s.tcp
		if tr == "udp" {
			addr = s.udp
		}
		t.Run(tr+"/v2", func(t *testing.T) {
			r, err := call(t, tr, addr, 2, pmapDump, nil)
			if err != nil {
				t.Fatalf("DUMP: %v", err)
			}
			var got []pmapEntry
			for r.Bool() {
				got = append(got, pmapEntry{r.Uint32(), r.Uint32(), r.Uint32(), r.Uint32()})
			}
			if r.Err() != nil || r.Remaining() != 0 {
				t.Fatalf("DUMP: decode error %v, %d bytes left", r.Err(), r.Remaining())
			}
			if !reflect.DeepEqual(got, want2) {
				t.Errorf("DUMP v2:\ngot  %v\nwant %v", got, want2)
			}
		})
		for _, v := range []uint32{3, 4} {
			t.Run(fmt.Sprintf("%s/v%d", tr, v), func(t *testing.T) {
				r, err := call(t, tr, addr, v, rpcbDump, nil)
				if err != nil {
					t.Fatalf("DUMP: %v", err)
				}
				var got []rpcbEntry
				for r.Bool() {
					got = append(got, rpcbEntry{r.Uint32(), r.Uint32(), r.String(1024), r.String(1024), r.String(1024)})
				}
				if r.Err() != nil || r.Remaining() != 0 {
					t.Fatalf("DUMP: decode error %v, %d bytes left", r.Err(), r.Remaining())
				}
				if !reflect.DeepEqual(got, want34) {
					t.Errorf("DUMP v%d:\ngot  %v\nwant %v", v, got, want34)
				}
			})
		}
	}
}

func TestSetUnsetRefused(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	for _, tr := range transports {
		addr := s.tcp
		if tr == "udp" {
			addr = s.udp
		}
		for _, proc := range []uint32{pmapSet, pmapUnset} {
			r, err := call(t, tr, addr, 2, proc, mapping(100021, 1, ProtTCP, 4045))
			if err != nil {
				t.Fatalf("v2 proc %d: %v", proc, err)
			}
			if got := r.Bool(); got || r.Err() != nil {
				t.Errorf("%s v2 proc %d: got %v (err %v); want false", tr, proc, got, r.Err())
			}
			for _, v := range []uint32{3, 4} {
				r, err := call(t, tr, addr, v, proc, rpcbArgs(100021, 1, "tcp", "0.0.0.0.15.205", "superuser"))
				if err != nil {
					t.Fatalf("v%d proc %d: %v", v, proc, err)
				}
				if got := r.Bool(); got || r.Err() != nil {
					t.Errorf("%s v%d proc %d: got %v (err %v); want false", tr, v, proc, got, r.Err())
				}
			}
		}
		// The table did not change.
		r, _ := call(t, tr, addr, 2, pmapGetport, mapping(100021, 1, ProtTCP, 0))
		if got := r.Uint32(); got != 0 {
			t.Errorf("GETPORT after SET: got %d; want 0", got)
		}
	}
}

func TestNullAndGettime(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", Options{})
	for _, tr := range transports {
		addr := s.tcp
		if tr == "udp" {
			addr = s.udp
		}
		for _, v := range []uint32{2, 3, 4} {
			r, err := call(t, tr, addr, v, 0, nil)
			if err != nil || r.Remaining() != 0 {
				t.Errorf("%s v%d NULL: err %v, %d result bytes; want nil, 0", tr, v, err, r.Remaining())
			}
		}
		for _, v := range []uint32{3, 4} {
			r, err := call(t, tr, addr, v, rpcbGettime, nil)
			if err != nil {
				t.Fatalf("GETTIME: %v", err)
			}
			got := int64(r.Uint32())
			if now := time.Now().Unix(); got < now-5 || got > now+5 {
				t.Errorf("%s v%d GETTIME: got %d; want about %d", tr, v, got, now)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	type want struct {
		accept    uint32 // when !denied
		denied    bool
		reject    uint32
		auth      uint32
		low, high uint32
	}
	raw := func(rpcvers, prog, vers, proc uint32, flavor uint32, body []byte, args []byte) []byte {
		w := xdr.NewWriter(nil)
		w.Uint32(testXID.Add(1))
		w.Uint32(rpc.Call)
		w.Uint32(rpcvers)
		w.Uint32(prog)
		w.Uint32(vers)
		w.Uint32(proc)
		w.Uint32(flavor)
		w.Opaque(body)
		w.Uint32(rpc.AuthNone)
		w.Opaque(nil)
		w.Fixed(args)
		return w.Bytes()
	}
	tests := []struct {
		name string
		msg  []byte
		want want
	}{
		{"version 1", raw(2, ProgPortmap, 1, 0, 0, nil, nil), want{accept: rpc.ProgMismatch, low: 2, high: 4}},
		{"version 5", raw(2, ProgPortmap, 5, 3, 0, nil, nil), want{accept: rpc.ProgMismatch, low: 2, high: 4}},
		{"other program", raw(2, ProgNFS, 3, 0, 0, nil, nil), want{accept: rpc.ProgUnavail}},
		{"v2 callit", raw(2, ProgPortmap, 2, pmapCallit, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v3 callit", raw(2, ProgPortmap, 3, rpcbCallit, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v4 bcast", raw(2, ProgPortmap, 4, rpcbCallit, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v3 getversaddr", raw(2, ProgPortmap, 3, rpcbGetversaddr, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v4 uaddr2taddr", raw(2, ProgPortmap, 4, rpcbUaddr2taddr, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v4 getstat", raw(2, ProgPortmap, 4, rpcbGetstat, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v4 proc 99", raw(2, ProgPortmap, 4, 99, 0, nil, nil), want{accept: rpc.ProcUnavail}},
		{"v2 getport short", raw(2, ProgPortmap, 2, pmapGetport, 0, nil, []byte{0, 1, 0x86, 0xa3, 0, 0, 0, 3}), want{accept: rpc.GarbageArgs}},
		{"v2 set short", raw(2, ProgPortmap, 2, pmapSet, 0, nil, nil), want{accept: rpc.GarbageArgs}},
		{"v4 getaddr short", raw(2, ProgPortmap, 4, rpcbGetaddr, 0, nil, []byte{0, 1, 0x86, 0xa3}), want{accept: rpc.GarbageArgs}},
		{"v4 getaddr netid too long", raw(2, ProgPortmap, 4, rpcbGetaddr, 0, nil, []byte{0, 1, 0x86, 0xa3, 0, 0, 0, 3, 0x7f, 0xff, 0xff, 0xff}), want{accept: rpc.GarbageArgs}},
		{"rpc version 3", raw(3, ProgPortmap, 2, 0, 0, nil, nil), want{denied: true, reject: rpc.RPCMismatch, low: 2, high: 2}},
		{"gss credential", raw(2, ProgPortmap, 2, 0, 6, []byte{1, 2, 3, 4}, nil), want{denied: true, reject: rpc.AuthError, auth: rpc.AuthRejectedCred}},
		{"bad auth_sys", raw(2, ProgPortmap, 2, 0, rpc.AuthSys, []byte{1, 2, 3, 4}, nil), want{denied: true, reject: rpc.AuthError, auth: rpc.AuthBadCred}},
	}
	for _, tr := range transports {
		addr := s.tcp
		if tr == "udp" {
			addr = s.udp
		}
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				rep, err := exchange(t, tr, addr, tt.msg)
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				_, err = rpc.DecodeReply(xdr.NewReader(rep))
				var re *rpc.ReplyError
				if !errors.As(err, &re) {
					t.Fatalf("reply: got %v; want a ReplyError", err)
				}
				got := want{accept: re.AcceptStat, denied: re.Denied, reject: re.RejectStat, auth: re.AuthStat, low: re.Low, high: re.High}
				if got != tt.want {
					t.Errorf("reply: got %+v; want %+v", got, tt.want)
				}
			})
		}
	}
}

func TestUDPDropsGarbage(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	for _, msg := range [][]byte{
		{1, 2, 3},                      // not even an xid and a type
		{0, 0, 0, 1, 0, 0, 0, 1},       // a reply, not a call
		make([]byte, maxRecord+100),    // over the size limit
		{0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, // a truncated call header
	} {
		if _, err := exchange(t, "udp", s.udp, msg); err == nil || !isTimeout(err) {
			t.Errorf("garbage datagram of %d bytes: got reply or %v; want no reply", len(msg), err)
		}
	}
	// Still serving.
	if _, err := call(t, "udp", s.udp, 2, 0, nil); err != nil {
		t.Errorf("NULL after garbage: %v", err)
	}
	if got := s.Stats().Garbage; got != 4 {
		t.Errorf("Stats().Garbage: got %d; want 4", got)
	}
}

func TestTCPGarbageClosesConnection(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	c, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// A record mark announcing more than the limit.
	c.Write([]byte{0x80, 0x10, 0, 0})
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read after oversized record: got data; want the connection closed")
	}
}

func TestTCPPipelinedAndConcurrent(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, "127.0.0.1", testMappings())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.tcp)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// Ten calls in one write, some in two fragments.
			var out []byte
			var xids []uint32
			for j := range 10 {
				msg, xid := callMsg(2, pmapGetport, mapping(ProgNFS, 3, ProtTCP, 0))
				xids = append(xids, xid)
				if j%2 == 0 {
					h := len(msg) / 2
					out = append(out, 0, 0, 0, byte(h))
					out = append(out, msg[:h]...)
					msg = msg[h:]
				}
				out = append(out, 0x80, 0, 0, byte(len(msg)))
				out = append(out, msg...)
			}
			if _, err := c.Write(out); err != nil {
				t.Errorf("conn %d: write: %v", i, err)
				return
			}
			for _, want := range xids {
				rec, err := rpc.ReadRecord(c, nil, 1<<16)
				if err != nil {
					t.Errorf("conn %d: read: %v", i, err)
					return
				}
				r := xdr.NewReader(rec)
				xid, err := rpc.DecodeReply(r)
				if err != nil || xid != want || r.Uint32() != 2049 {
					t.Errorf("conn %d: reply xid %#x err %v; want xid %#x port 2049", i, xid, err, want)
				}
			}
		}()
	}
	wg.Wait()
}

func TestMaxConns(t *testing.T) {
	checkNoLeak(t)
	opts := testMappings()
	opts.MaxConns = 1
	s := startServer(t, "127.0.0.1", opts)
	first, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// Make sure the first one is being served before the second arrives.
	first.SetDeadline(time.Now().Add(5 * time.Second))
	msg, _ := callMsg(2, 0, nil)
	rec := append(make([]byte, 4), msg...)
	rpc.SetRecordHeader(rec)
	first.Write(rec)
	if _, err := rpc.ReadRecord(first, nil, 1<<16); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(5 * time.Second))
	second.Write(rec)
	if _, err := rpc.ReadRecord(second, nil, 1<<16); err == nil {
		t.Errorf("second connection over MaxConns: got a reply; want it closed")
	}
	if got := s.Stats().Refused; got != 1 {
		t.Errorf("Stats().Refused: got %d; want 1", got)
	}
}

func TestCloseStopsConnections(t *testing.T) {
	checkNoLeak(t)
	l, pc := listenPair(t, "127.0.0.1")
	s, err := New(testMappings())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(l) }()
	go func() { errc <- s.ServeUDP(pc) }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg, _ := callMsg(2, 0, nil)
	rec := append(make([]byte, 4), msg...)
	rpc.SetRecordHeader(rec)
	c.Write(rec)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := rpc.ReadRecord(c, nil, 1<<16); err != nil {
		t.Fatal(err)
	}
	s.Close() // must not wait for the idle client
	for range 2 {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: got %v; want ErrClosed", err)
		}
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("client read after Close: got data; want the connection closed")
	}
	if err := s.Serve(l); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: got %v; want ErrClosed", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // substring of the error; "" = valid
	}{
		{"zero", Options{}, ""},
		{"proxy mappings", Options{Mappings: ProxyMappings(2049, 2049, 111)}, ""},
		{"prot only", Options{Mappings: []Mapping{{Prog: 1, Vers: 1, Prot: ProtUDP, Port: 1}}}, ""},
		{"no prog", Options{Mappings: []Mapping{{Vers: 1, Prot: ProtTCP}}}, "Mappings[0].Prog"},
		{"port too big", Options{Mappings: []Mapping{{Prog: 1, Prot: ProtTCP, Port: 70000}}}, "Mappings[0].Port: 70000"},
		{"no transport", Options{Mappings: []Mapping{{Prog: 1, Prot: 99}}}, "Mappings[0]: neither Netid"},
		{"prot mismatch", Options{Mappings: []Mapping{{Prog: 1, Prot: ProtUDP, Netid: "tcp"}}}, "Mappings[0].Prot: 17 does not match"},
		{"local needs addr", Options{Mappings: []Mapping{{Prog: 1, Netid: "local"}}}, "Mappings[0].Addr: required"},
		{"local with addr", Options{Mappings: []Mapping{{Prog: 1, Netid: "local", Addr: "/run/x.sock"}}}, ""},
		{"conns", Options{MaxConns: -1}, "MaxConns"},
		{"idle", Options{IdleTimeout: -time.Second}, "IdleTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: got %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: got %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestWildcardArrivalAddress serves on the wildcard address and checks
// GETADDR answers with the address each query arrived on, over TCP and
// over UDP (IP_PKTINFO), for IPv4 and for IPv4 on a dual-stack socket. It
// binds the wildcard address only in a private network namespace, where
// the only interface is loopback.
func TestWildcardArrivalAddress(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		if !rerunInNetns(t, "TestWildcardArrivalAddress") {
			t.Skip("needs a private network namespace (root, unshare, ip) so as to bind the wildcard address on loopback only")
		}
		return
	}
	for _, host := range []string{"0.0.0.0", "::"} {
		t.Run(host, func(t *testing.T) {
			if host == "::" {
				l, err := net.Listen("tcp", "[::]:0")
				if err != nil {
					t.Skipf("no IPv6: %v", err)
				}
				l.Close()
			}
			checkNoLeak(t)
			s := startServer(t, host, testMappings())
			for _, dst := range []string{"127.0.0.1", "127.0.0.3"} {
				for _, tr := range transports {
					addr := net.JoinHostPort(dst, fmt.Sprint(s.port))
					r, err := call(t, tr, addr, 4, rpcbGetaddr, rpcbArgs(ProgNFS, 3, "tcp", "", ""))
					if err != nil {
						t.Fatalf("GETADDR: %v", err)
					}
					if got, want := mustString(t, r), dst+".8.1"; got != want {
						t.Errorf("%s to %s GETADDR: got %q; want %q", tr, dst, got, want)
					}
				}
			}
		})
	}
}

func TestNLMMappings(t *testing.T) {
	ms := NLMMappings(4045, 4046)
	want := []Mapping{
		{Prog: ProgNLM, Vers: 4, Netid: "tcp", Port: 4045}, {Prog: ProgNLM, Vers: 4, Netid: "tcp6", Port: 4045},
		{Prog: ProgNLM, Vers: 4, Netid: "udp", Port: 4046}, {Prog: ProgNLM, Vers: 4, Netid: "udp6", Port: 4046},
		{Prog: ProgNSM, Vers: 1, Netid: "tcp", Port: 4045}, {Prog: ProgNSM, Vers: 1, Netid: "tcp6", Port: 4045},
		{Prog: ProgNSM, Vers: 1, Netid: "udp", Port: 4046}, {Prog: ProgNSM, Vers: 1, Netid: "udp6", Port: 4046},
	}
	if len(ms) != len(want) {
		t.Fatalf("NLMMappings: got %d mappings; want %d", len(ms), len(want))
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mapping %d: got %+v; want %+v", i, ms[i], want[i])
		}
	}
	if _, err := New(Options{Mappings: append(ProxyMappings(2049, 2049, 111), ms...)}); err != nil {
		t.Fatalf("a table with NLM: %v", err)
	}
}
