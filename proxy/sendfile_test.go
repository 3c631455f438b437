package proxy

import (
	"bytes"
	"net"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestWarmReadFromCacheFile: warm READs are answered with their payload
// sent from the cache file (sendfile) after the reply head, byte for byte
// what the upstream holds, also when such replies leave in one batch
// with others (the calls are pipelined on one connection) and when the
// read ends at EOF. A length that needs XDR padding is copied as before;
// with NoSendfile every READ is.
func TestWarmReadFromCacheFile(t *testing.T) {
	type rd struct{ off, n int }
	reads := []rd{
		{0, 128 << 10}, {1 << 20, 1 << 20}, {300_000, 64 << 10}, // whole and partial granules
		{hitFileSize - 4096, 4096},  // to EOF
		{hitFileSize - 8192, 16384}, // past EOF: 8 KiB
		{5, 1001},                   // padded: copied
		{256 << 10, 4},
	}
	for _, tc := range []struct {
		name       string
		noSendfile bool
	}{{"sendfile", false}, {"NoSendfile", true}} {
		t.Run(tc.name, func(t *testing.T) {
			hb := newHitBenchWith(t, Options{NoSendfile: tc.noSendfile})
			c := hb.dial(t)
			before := settledStats(t, hb.srv).SendfileBytes
			calls := hb.up.calls.Load()
			// One write of every call, a GETATTR between READs, so
			// replies with and without a span share batches.
			var msg []byte
			fh := appendHandle(nil, 1, hitFile)
			for i, r := range reads {
				msg = append(msg, frame(callBody(uint32(100+i), nfs3.Program, 3, nfs3.ProcRead, &testCred,
					&nfs3.ReadArgs{File: fh, Offset: uint64(r.off), Count: uint32(r.n)}), 2<<20)...)
				msg = append(msg, hitCall(nfs3.ProcGetattr, 0)...)
			}
			if _, err := c.nc.Write(msg); err != nil {
				t.Fatal(err)
			}
			// Replies come in the order requests finish.
			got := make(map[uint32]nfs3.ReadRes)
			for range 2 * len(reads) {
				xid, res := readAnyReply(t, c)
				if xid != 2 { // not the GETATTR
					got[xid] = res
				} else if res.Status != nfs3.StatOK {
					t.Fatalf("GETATTR: %v", res.Status)
				}
			}
			var aligned int64
			for i, r := range reads {
				end := min(r.off+r.n, hitFileSize)
				res, ok := got[uint32(100+i)]
				if !ok {
					t.Fatalf("no reply to READ %d at %d", r.n, r.off)
				}
				if res.Status != nfs3.StatOK || int(res.Count) != end-r.off || res.EOF != (end == hitFileSize) {
					t.Fatalf("READ %d at %d: status %v, count %d, eof %v; want OK, %d, %v", r.n, r.off, res.Status, res.Count, res.EOF, end-r.off, end == hitFileSize)
				}
				if !bytes.Equal(res.Data, hb.up.data[r.off:end]) {
					t.Fatalf("READ %d at %d: bytes differ from the upstream's", r.n, r.off)
				}
				if (end-r.off)%4 == 0 {
					aligned += int64(end - r.off)
				}
			}
			if n := hb.up.calls.Load() - calls; n != 0 {
				t.Fatalf("%d upstream calls; want 0 (all hits)", n)
			}
			want := aligned
			if tc.noSendfile {
				want = 0
			}
			if got := settledStats(t, hb.srv).SendfileBytes - before; got != want {
				t.Fatalf("bytes sent with sendfile = %d; want %d", got, want)
			}
		})
	}
}

// readAnyReply reads the next reply on c: its xid and, decoded as a READ
// result, its body (for another procedure only Status means anything).
func readAnyReply(t *testing.T, c *hitClient) (uint32, nfs3.ReadRes) {
	t.Helper()
	var err error
	c.buf, err = rpc.ReadRecord(c.br, c.buf[:0], 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	r := xdr.NewReader(c.buf)
	xid, err := rpc.DecodeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	if xid == 2 {
		return xid, nfs3.ReadRes{Status: nfs3.Stat(r.Uint32())}
	}
	var res nfs3.ReadRes
	if err := res.Decode(r); err != nil {
		t.Fatal(err)
	}
	if r.Remaining() != 0 {
		t.Fatalf("READ reply: %d bytes after the result", r.Remaining())
	}
	res.Data = bytes.Clone(res.Data) // c.buf is reused
	return xid, res
}

// TestWarmReadFromCacheFileBackpressure: 16 MiB of warm READ replies
// queued for a client with a small receive buffer, more than the
// socket buffers hold, so the writer's sendmsg and sendfile meet a full
// socket and resume where they stopped; every byte arrives in order.
func TestWarmReadFromCacheFileBackpressure(t *testing.T) {
	hb := newHitBench(t)
	c := hb.dial(t)
	if err := c.nc.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	before := settledStats(t, hb.srv).SendfileBytes
	const reads = 16
	fh := appendHandle(nil, 1, hitFile)
	var msg []byte
	for i := range reads {
		off := (i % (hitFileSize >> 20)) << 20
		msg = append(msg, frame(callBody(uint32(100+i), nfs3.Program, 3, nfs3.ProcRead, &testCred,
			&nfs3.ReadArgs{File: fh, Offset: uint64(off), Count: 1 << 20}), 2<<20)...)
	}
	if _, err := c.nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	for range reads {
		xid, res := readAnyReply(t, c)
		off := (int(xid-100) % (hitFileSize >> 20)) << 20
		if res.Status != nfs3.StatOK || !bytes.Equal(res.Data, hb.up.data[off:off+1<<20]) {
			t.Fatalf("READ xid %d: status %v, %d bytes, equal to the upstream's: %v", xid, res.Status, len(res.Data), bytes.Equal(res.Data, hb.up.data[off:off+len(res.Data)]))
		}
	}
	if got := settledStats(t, hb.srv).SendfileBytes - before; got != reads<<20 {
		t.Fatalf("bytes sent with sendfile = %d; want %d", got, reads<<20)
	}
}

// settledStats returns the server's counters once no request is in
// flight: a reply's bytes are counted after its write returns, which may
// be after the client has read them.
func settledStats(t *testing.T, s *Server) Stats {
	t.Helper()
	await.Until(t, "requests in flight to finish", func() bool { return s.Stats().InFlight == 0 })
	return s.Stats()
}
