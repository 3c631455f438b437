package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
	"github.com/nfscacheproxy/nfscacheproxy/metrics"
)

// The hit benchmarks measure warm requests end to end over loopback TCP,
// the way a client sees them: record framing, dispatch, the caches, the
// metrics the production binary registers, the reply write. The upstream
// answers from memory and counts its calls; a benchmark that reaches it
// during the timed part fails (it would not be measuring hits).

// hitUpstream serves a root directory holding one regular file "f".
type hitUpstream struct {
	calls atomic.Int64
	data  []byte
}

var (
	hitRoot     = nfs3.FH{1, 1, 1, 1}
	hitFile     = nfs3.FH{7, 7, 7, 7}
	hitRootAttr = nfs3.Fattr3{Type: nfs3.TypeDir, Mode: 0o755, FileID: 1, Nlink: 2, Size: 4096}
)

func (u *hitUpstream) fileAttr() nfs3.Fattr3 {
	return nfs3.Fattr3{Type: nfs3.TypeReg, Mode: 0o644, Size: uint64(len(u.data)), FileID: 42, Nlink: 1}
}

func (u *hitUpstream) Root() nfs3.FH { return hitRoot }

func (u *hitUpstream) attrOf(fh nfs3.FH) nfs3.Fattr3 {
	if string(fh) == string(hitRoot) {
		return hitRootAttr
	}
	return u.fileAttr()
}

func (u *hitUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	u.calls.Add(1)
	switch proc {
	case nfs3.ProcGetattr:
		*res.(*nfs3.GetattrRes) = nfs3.GetattrRes{Status: nfs3.StatOK, Attr: u.attrOf(args.(*nfs3.GetattrArgs).Object)}
	case nfs3.ProcLookup:
		*res.(*nfs3.LookupRes) = nfs3.LookupRes{Status: nfs3.StatOK, Object: hitFile,
			ObjAttr: nfs3.PostOpAttr{Set: true, Attr: u.fileAttr()}, DirAttr: nfs3.PostOpAttr{Set: true, Attr: hitRootAttr}}
	case nfs3.ProcAccess:
		a := args.(*nfs3.AccessArgs)
		*res.(*nfs3.AccessRes) = nfs3.AccessRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: u.attrOf(a.Object)}, Access: a.Access}
	case nfs3.ProcRead:
		a := args.(*nfs3.ReadArgs)
		end := min(uint64(len(u.data)), a.Offset+uint64(a.Count))
		*res.(*nfs3.ReadRes) = nfs3.ReadRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: u.fileAttr()},
			Count: uint32(end - a.Offset), EOF: end == uint64(len(u.data)), Data: u.data[a.Offset:end]}
	default:
		return fmt.Errorf("hitUpstream: proc %d not served", proc)
	}
	return nil
}

// hitBench is a served proxy with everything the hit benchmarks ask for
// already cached.
type hitBench struct {
	up   *hitUpstream
	srv  *Server
	addr string
}

const hitFileSize = 4 << 20

func newHitBench(b testing.TB) *hitBench { return newHitBenchWith(b, Options{}) }

// newHitBenchWith is newHitBench with the server options opts (Volumes
// and Observer are set here).
func newHitBenchWith(b testing.TB, opts Options) *hitBench {
	b.Helper()
	up := &hitUpstream{data: make([]byte, hitFileSize)}
	for i := range up.data {
		up.data[i] = byte(i * 7)
	}
	store, err := cache.Open(cache.Options{Dir: b.TempDir(), Readahead: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	// As the production binary does: request latencies by result.
	obs := metrics.NewProcHistograms(metrics.ProcHistogramOpts{Name: "request", Help: "client requests", Results: true})
	opts.Observer, opts.Volumes = obs, []Volume{{ID: 1, Name: "/x", Upstream: up,
		// Attributes stay fresh for the whole benchmark (ttl mode).
		Coherency: coherency.Options{AcRegMin: time.Hour, AcRegMax: time.Hour, AcDirMin: time.Hour, AcDirMax: time.Hour},
		Data:      StoreVolume(store, cache.VolumeKey{Server: "mem", Export: "/x", ID: 1})}}
	s, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	b.Cleanup(func() { s.Close(); <-done })
	hb := &hitBench{up: up, srv: s, addr: l.Addr().String()}

	// Warm every cache the benchmarks use: attributes, the name, ACCESS
	// for the caller, and every granule of the file.
	c := hb.dial(b)
	for _, rec := range [][]byte{hitCall(nfs3.ProcGetattr, 0), hitCall(nfs3.ProcGetattr, -1),
		hitCall(nfs3.ProcLookup, 0), hitCall(nfs3.ProcAccess, 0), hitCall(nfs3.ProcAccess, -1)} {
		c.roundTrip(b, rec)
	}
	for off := 0; off < hitFileSize; off += 1 << 20 {
		c.roundTrip(b, frame(callBody(1, nfs3.Program, 3, nfs3.ProcRead, &testCred,
			&nfs3.ReadArgs{File: appendHandle(nil, 1, hitFile), Offset: uint64(off), Count: 1 << 20}), 1<<20))
	}
	await.Until(b, "the file's granules to be stored", func() bool {
		return store.Stats().Fills == hitFileSize/(256<<10)
	})
	c.roundTrip(b, hitCall(nfs3.ProcRead, 0)) // now a hit
	if st := store.Stats(); st.Hits == 0 {
		b.Fatalf("warm-up read was no hit: %+v", st)
	}
	return hb
}

// hitCall is the record-marked call of proc on the file (arg >= 0: for
// READ, the 128 KiB block arg of the file) or on the root (arg < 0).
func hitCall(proc uint32, arg int) []byte { return hitCallSize(proc, arg, 128<<10) }

// hitCallSize is hitCall with READs of block bytes.
func hitCallSize(proc uint32, arg, block int) []byte {
	fh := appendHandle(nil, 1, hitFile)
	if arg < 0 {
		fh = appendHandle(nil, 1, hitRoot)
	}
	var args xdr.Encoder
	switch proc {
	case nfs3.ProcGetattr:
		args = &nfs3.GetattrArgs{Object: fh}
	case nfs3.ProcLookup:
		args = &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: appendHandle(nil, 1, hitRoot), Name: "f"}}
	case nfs3.ProcAccess:
		args = &nfs3.AccessArgs{Object: fh, Access: nfs3.AccessRead | nfs3.AccessLookup}
	case nfs3.ProcRead:
		args = &nfs3.ReadArgs{File: fh, Offset: uint64(arg*block) % hitFileSize, Count: uint32(block)}
	}
	return frame(callBody(uint32(arg+2), nfs3.Program, 3, proc, &testCred, args), 2<<20)
}

type hitClient struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte
}

func (hb *hitBench) dial(b testing.TB) *hitClient {
	nc, err := net.Dial("tcp", hb.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &hitClient{nc: nc, br: bufio.NewReaderSize(nc, 256<<10)}
}

// roundTrip sends rec and reads one reply, which must be NFS3_OK.
func (c *hitClient) roundTrip(b testing.TB, rec []byte) bool {
	if _, err := c.nc.Write(rec); err != nil {
		b.Error(err)
		return false
	}
	return c.readReply(b)
}

func (c *hitClient) readReply(b testing.TB) bool {
	var err error
	c.buf, err = rpc.ReadRecord(c.br, c.buf[:0], 2<<20)
	if err != nil {
		b.Error(err)
		return false
	}
	r := xdr.NewReader(c.buf)
	if _, err := rpc.DecodeReply(r); err != nil {
		b.Error(err)
		return false
	}
	if st := r.Uint32(); st != uint32(nfs3.StatOK) {
		b.Errorf("reply status %v; want OK", nfs3.Stat(st))
		return false
	}
	return true
}

// runHits runs b.N calls from clients connections, each with one call at
// a time (the call of client i is recs[i%len(recs)]), and fails if any of
// them reached the upstream.
func (hb *hitBench) runHits(b *testing.B, clients int, recs [][]byte) {
	cs := make([]*hitClient, clients)
	for i := range cs {
		cs[i] = hb.dial(b)
	}
	calls := hb.up.calls.Load()
	cpu := startCPU()
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := recs[i%len(recs)]
			for left.Add(-1) >= 0 {
				if !c.roundTrip(b, rec) {
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu.report(b)
	if n := hb.up.calls.Load() - calls; n != 0 {
		b.Fatalf("%d upstream calls during a hit benchmark; want 0", n)
	}
}

// runPipelined keeps depth calls in flight on one connection (as the
// benchmark client does with --conns 1): depth calls written at once, then
// their replies read.
func (hb *hitBench) runPipelined(b *testing.B, depth int, recs [][]byte) {
	c := hb.dial(b)
	var msg []byte
	for i := range depth {
		msg = append(msg, recs[i%len(recs)]...)
	}
	calls := hb.up.calls.Load()
	cpu := startCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += depth {
		if _, err := c.nc.Write(msg); err != nil {
			b.Fatal(err)
		}
		for range depth {
			if !c.readReply(b) {
				b.FailNow()
			}
		}
	}
	b.StopTimer()
	cpu.report(b)
	if n := hb.up.calls.Load() - calls; n != 0 {
		b.Fatalf("%d upstream calls during a hit benchmark; want 0", n)
	}
}

func benchHits(b *testing.B, recs [][]byte, bytes int64) {
	benchHitsOn(b, newHitBench(b), recs, bytes)
}

// benchReadHits runs READ hits as served (payload by sendfile) and, side
// by side, copied through the proxy's memory (Options.NoSendfile).
func benchReadHits(b *testing.B, recs [][]byte, bytes int64) {
	b.Run("sendfile", func(b *testing.B) { benchHitsOn(b, newHitBench(b), recs, bytes) })
	b.Run("copy", func(b *testing.B) { benchHitsOn(b, newHitBenchWith(b, Options{NoSendfile: true}), recs, bytes) })
}

func benchHitsOn(b *testing.B, hb *hitBench, recs [][]byte, bytes int64) {
	for _, clients := range []int{4, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			b.SetBytes(bytes)
			hb.runHits(b, clients, recs)
		})
	}
	b.Run("pipelined=32", func(b *testing.B) {
		b.SetBytes(bytes)
		hb.runPipelined(b, 32, recs)
	})
}

// BenchmarkGetattrHit: GETATTR answered from the attribute cache.
func BenchmarkGetattrHit(b *testing.B) {
	benchHits(b, [][]byte{hitCall(nfs3.ProcGetattr, 0)}, 0)
}

// BenchmarkLookupHit: LOOKUP answered from the name and attribute caches.
func BenchmarkLookupHit(b *testing.B) {
	benchHits(b, [][]byte{hitCall(nfs3.ProcLookup, 0)}, 0)
}

// BenchmarkAccessHit: ACCESS answered from the ACCESS cache.
func BenchmarkAccessHit(b *testing.B) {
	benchHits(b, [][]byte{hitCall(nfs3.ProcAccess, 0)}, 0)
}

// BenchmarkReadHit128KiB: 128 KiB READs served from the data cache, the
// clients spread over the file.
func BenchmarkReadHit128KiB(b *testing.B) {
	var recs [][]byte
	for i := range 32 {
		recs = append(recs, hitCall(nfs3.ProcRead, i))
	}
	benchReadHits(b, recs, 128<<10)
}

// cpuClock measures the CPU time (user and system) of the process: the
// client's and the server's, which on a shared machine varies less than
// the wall-clock time per operation.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuNow()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkReadHit4KiB: 4 KiB READs (the matrix's randread) served from
// the data cache, 32 different blocks.
func BenchmarkReadHit4KiB(b *testing.B) {
	var recs [][]byte
	for i := range 32 {
		recs = append(recs, hitCallSize(nfs3.ProcRead, i*37, 4<<10))
	}
	benchReadHits(b, recs, 4<<10)
}

// BenchmarkReadHit1MiB: 1 MiB READs (the benchmark matrix's seqread
// block) served from the data cache, whole granules each.
func BenchmarkReadHit1MiB(b *testing.B) {
	var recs [][]byte
	for i := range 4 {
		recs = append(recs, hitCallSize(nfs3.ProcRead, i, 1<<20))
	}
	benchReadHits(b, recs, 1<<20)
}
