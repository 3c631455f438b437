package wanrelay

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
)

// server is a loopback TCP server whose handler goroutines are owned and
// stopped by Close, so leak checks see only the relay's goroutines.
type server struct {
	ln     *net.TCPListener
	handle func(*net.TCPConn)
	wg     sync.WaitGroup

	mu     sync.Mutex // guards conns and closed
	conns  map[*net.TCPConn]struct{}
	closed bool
}

func startServer(tb testing.TB, handle func(*net.TCPConn)) *server {
	tb.Helper()
	return startServerOn(tb, "127.0.0.1:0", handle)
}

func startServerOn(tb testing.TB, addr string, handle func(*net.TCPConn)) *server {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	s := &server{ln: ln.(*net.TCPListener), handle: handle, conns: map[*net.TCPConn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.Close)
	return s
}

func (s *server) Addr() string { return s.ln.Addr().String() }

func (s *server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(c)
		}()
	}
}

func (s *server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// echo copies everything back and half-closes at end of stream.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// sink reads to end of stream and reports the byte count on done.
func sink(done chan<- int64) func(*net.TCPConn) {
	return func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}
}

func startRelay(tb testing.TB, opts Options) *Relay {
	tb.Helper()
	r, err := Start(opts)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

func dial(tb testing.TB, addr string) *net.TCPConn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // substring of the error; "" for valid
	}{
		{"zero", Options{}, "Options.Target"},
		{"minimal", Options{Target: "127.0.0.1:2049"}, ""},
		{"target without port", Options{Target: "127.0.0.1"}, "Options.Target"},
		{"target empty port", Options{Target: "127.0.0.1:"}, "Options.Target"},
		{"bad listen", Options{Target: "127.0.0.1:1", Listen: "nope"}, "Options.Listen"},
		{"negative delay", Options{Target: "127.0.0.1:1", Delay: -1}, "Options.Delay"},
		{"negative rate", Options{Target: "127.0.0.1:1", Rate: -1}, "Options.Rate"},
		{"negative buffer", Options{Target: "127.0.0.1:1", MaxBuffered: -1}, "Options.MaxBuffered"},
		{"full", Options{Listen: "127.0.0.1:0", Target: "localhost:2049", Delay: time.Millisecond, Rate: 1 << 20, MaxBuffered: 1 << 20}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v; want error naming %s", err, tt.want)
			}
		})
	}
}

func TestChunkSize(t *testing.T) {
	tests := []struct {
		rate, maxBuffered int64
		want              int
	}{
		{0, DefaultMaxBuffered, maxChunk},
		{8 << 20, DefaultMaxBuffered, 8 << 20 / 1000},
		{1000, DefaultMaxBuffered, minRateChunk},
		{1 << 40, DefaultMaxBuffered, maxChunk},
		{0, 1000, 1000},
		{0, 1, 1},
	}
	for _, tt := range tests {
		if got := chunkSize(tt.rate, tt.maxBuffered); got != tt.want {
			t.Errorf("chunkSize(%d, %d) = %d; want %d", tt.rate, tt.maxBuffered, got, tt.want)
		}
	}
}

// TestRelayIntegrity sends random streams through an echo server behind the
// relay, in both directions at once, and checks every byte comes back in
// order.
func TestRelayIntegrity(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		size  int
		conns int
	}{
		{"no delay", Options{}, 8 << 20, 1},
		{"delay small buffer", Options{Delay: 2 * time.Millisecond, MaxBuffered: 128 << 10}, 4 << 20, 3},
		{"rate", Options{Delay: time.Millisecond, Rate: 64 << 20}, 2 << 20, 2},
		{"tiny buffer", Options{MaxBuffered: 1000}, 1 << 20, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, echo)
			opts := tt.opts
			opts.Target = srv.Addr()
			r := startRelay(t, opts)

			var wg sync.WaitGroup
			errs := make(chan error, 2*tt.conns)
			for i := range tt.conns {
				c := dial(t, r.Addr())
				data := randomBytes(uint64(i), tt.size)
				wg.Add(2)
				go func() { // writer: random-sized writes, then half-close
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(i), 1))
					for off := 0; off < len(data); {
						n := min(1+rng.IntN(200<<10), len(data)-off)
						if _, err := c.Write(data[off : off+n]); err != nil {
							errs <- fmt.Errorf("conn %d: write: %w", i, err)
							return
						}
						off += n
					}
					if err := c.CloseWrite(); err != nil {
						errs <- fmt.Errorf("conn %d: close write: %w", i, err)
					}
				}()
				go func() { // reader: everything back, then EOF
					defer wg.Done()
					got, err := io.ReadAll(c)
					if err != nil {
						errs <- fmt.Errorf("conn %d: read: %w", i, err)
						return
					}
					if !bytes.Equal(got, data) {
						errs <- fmt.Errorf("conn %d: got %d bytes (first difference at %d); want %d identical bytes",
							i, len(got), firstDiff(got, data), len(data))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			total := int64(tt.size * tt.conns)
			await.Until(t, "Stats().Active == 0 after all streams ended", func() bool { return r.Stats().Active == 0 })
			st := r.Stats()
			if st.BytesToTarget != total || st.BytesToClient != total {
				t.Errorf("Stats() bytes to target %d, to client %d; want %d each", st.BytesToTarget, st.BytesToClient, total)
			}
			if st.Accepted != int64(tt.conns) || st.Buffered != 0 {
				t.Errorf("Stats() accepted %d, buffered %d; want %d, 0", st.Accepted, st.Buffered, tt.conns)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// roundTrip sends a small message and waits for its echo.
func roundTrip(t *testing.T, c *net.TCPConn) time.Duration {
	t.Helper()
	msg := []byte("ping-0123456789ab")
	got := make([]byte, len(msg))
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	d := time.Since(start)
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo = %q; want %q", got, msg)
	}
	return d
}

// TestRelayRoundTrip checks the round trip costs at least 2×Delay (a lower
// bound, which noise cannot break) and, without delay, stays far below the
// delayed cases.
func TestRelayRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		delay    time.Duration
		setDelay time.Duration // if > 0, applied on the live connection before measuring
		wantMin  time.Duration // every round trip at least this
		wantMed  time.Duration // median below this; 0 = no upper bound
	}{
		{"no delay", 0, 0, 0, 20 * time.Millisecond},
		{"delay 20ms", 20 * time.Millisecond, 0, 40 * time.Millisecond, 0},
		{"SetDelay 30ms on live conn", 0, 30 * time.Millisecond, 60 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, echo)
			r := startRelay(t, Options{Target: srv.Addr(), Delay: tt.delay})
			c := dial(t, r.Addr())
			roundTrip(t, c) // warm up; also exercises the connection before SetDelay
			if tt.setDelay > 0 {
				r.SetDelay(tt.setDelay)
			}
			var rtts []time.Duration
			for range 7 {
				rtts = append(rtts, roundTrip(t, c))
			}
			slices.Sort(rtts)
			t.Logf("delay %v: min %v, median %v, max %v", max(tt.delay, tt.setDelay), rtts[0], rtts[len(rtts)/2], rtts[len(rtts)-1])
			if rtts[0] < tt.wantMin {
				t.Errorf("min round trip %v; want >= %v", rtts[0], tt.wantMin)
			}
			if med := rtts[len(rtts)/2]; tt.wantMed > 0 && med >= tt.wantMed {
				t.Errorf("median round trip %v; want < %v", med, tt.wantMed)
			}
		})
	}
}

// TestRelayPipelining sends 50 small messages as separate segments (1 ms
// apart, so the relay reads them separately) and checks all echoes arrive
// far sooner than 50 round trips: delay is pipelined, not stop-and-wait.
func TestRelayPipelining(t *testing.T) {
	const (
		delay = 20 * time.Millisecond
		rtt   = 2 * delay
		n     = 50
		size  = 32
	)
	srv := startServer(t, echo)
	r := startRelay(t, Options{Target: srv.Addr(), Delay: delay})
	c := dial(t, r.Addr())
	want := randomBytes(7, n*size)

	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := c.Write(want[i*size : (i+1)*size]); err != nil {
				werr <- err
				return
			}
			// The pause is the behaviour under test: separate segments,
			// read separately by the relay, each delayed on its own.
			time.Sleep(time.Millisecond)
		}
		werr <- nil
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	elapsed := time.Since(start)
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echoes differ at byte %d", firstDiff(got, want))
	}
	t.Logf("%d messages, RTT %v: all echoed in %v (stop-and-wait would take >= %v)", n, rtt, elapsed, n*rtt)
	if elapsed < rtt {
		t.Errorf("elapsed %v; want >= one RTT %v", elapsed, rtt)
	}
	if elapsed >= 25*rtt {
		t.Errorf("elapsed %v; want < 25×RTT = %v (pipelined)", elapsed, 25*rtt)
	}
}

// TestRelayRate checks a rate-capped link takes at least size/rate.
func TestRelayRate(t *testing.T) {
	const (
		size = 4 << 20
		rate = 8 << 20 // 0.5 s for size
	)
	done := make(chan int64, 1)
	srv := startServer(t, sink(done))
	r := startRelay(t, Options{Target: srv.Addr(), Rate: rate})
	c := dial(t, r.Addr())
	data := randomBytes(3, size)

	start := time.Now()
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	got := await.Recv(t, "the sink to see the end of the stream", done)
	elapsed := time.Since(start)
	t.Logf("%d bytes at cap %d B/s: %v, %.2f MiB/s", got, rate, elapsed, float64(got)/elapsed.Seconds()/(1<<20))
	if got != size {
		t.Errorf("sink got %d bytes; want %d", got, size)
	}
	if min := 450 * time.Millisecond; elapsed < min {
		t.Errorf("elapsed %v; want >= %v", elapsed, min)
	}
	if st := r.Stats(); st.BytesToTarget != size {
		t.Errorf("Stats().BytesToTarget = %d; want %d", st.BytesToTarget, size)
	}
}

// TestRelayHalfClose checks that closing one write half reaches the peer
// after all data, and the other direction keeps working.
func TestRelayHalfClose(t *testing.T) {
	const size = 1 << 20
	data := randomBytes(5, size)
	sum := sha256.Sum256(data)

	t.Run("client closes write", func(t *testing.T) {
		// The server reads to EOF, then replies with what it saw.
		srv := startServer(t, func(c *net.TCPConn) {
			h := sha256.New()
			n, _ := io.Copy(h, c)
			fmt.Fprintf(c, "%d %x", n, h.Sum(nil))
			c.CloseWrite()
		})
		r := startRelay(t, Options{Target: srv.Addr(), Delay: 10 * time.Millisecond})
		c := dial(t, r.Addr())
		if _, err := c.Write(data); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("close write: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		reply, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		if want := fmt.Sprintf("%d %x", size, sum); string(reply) != want {
			t.Errorf("reply %q; want %q", reply, want)
		}
	})

	t.Run("server closes write", func(t *testing.T) {
		// The server sends first and half-closes, then reads to EOF.
		got := make(chan string, 1)
		srv := startServer(t, func(c *net.TCPConn) {
			c.Write(data)
			c.CloseWrite()
			h := sha256.New()
			n, _ := io.Copy(h, c)
			got <- fmt.Sprintf("%d %x", n, h.Sum(nil))
		})
		r := startRelay(t, Options{Target: srv.Addr(), Delay: 10 * time.Millisecond})
		c := dial(t, r.Addr())
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		greeting, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read greeting: %v", err)
		}
		if !bytes.Equal(greeting, data) {
			t.Fatalf("greeting: got %d bytes; want the server's %d", len(greeting), size)
		}
		// Our read half is at EOF; the write half still works.
		if _, err := c.Write(data); err != nil {
			t.Fatalf("write after peer's half-close: %v", err)
		}
		c.CloseWrite()
		select {
		case s := <-got:
			if want := fmt.Sprintf("%d %x", size, sum); s != want {
				t.Errorf("server saw %q; want %q", s, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server saw no end of stream after 10s")
		}
		await.Until(t, "Stats().Active == 0 after both halves closed", func() bool { return r.Stats().Active == 0 })
	})
}

// TestRelayReset checks a client's reset tears down the target side too.
func TestRelayReset(t *testing.T) {
	ready := make(chan struct{}, 1)
	ended := make(chan error, 1)
	srv := startServer(t, func(c *net.TCPConn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			ended <- err
			return
		}
		ready <- struct{}{}
		_, err := c.Read(buf)
		ended <- err
	})
	r := startRelay(t, Options{Target: srv.Addr(), Delay: 5 * time.Millisecond})
	c := dial(t, r.Addr())
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatalf("write: %v", err)
	}
	await.Recv(t, "the server to get the data", ready)
	c.SetLinger(0)
	c.Close()
	err := await.Recv(t, "the server's connection to end after the client's reset", ended)
	if err == nil {
		t.Errorf("server read after client reset = nil error; want EOF or reset")
	}
	t.Logf("server saw: %v", err)
	await.Until(t, "Stats().Active == 0 after reset", func() bool { return r.Stats().Active == 0 })
}

// TestRelayBackpressure checks a direction never buffers more than
// MaxBuffered while its target does not read, and that everything arrives
// once it does.
func TestRelayBackpressure(t *testing.T) {
	const (
		maxBuf = 256 << 10
		size   = 32 << 20
	)
	release := make(chan struct{})
	done := make(chan int64, 1)
	srv := startServer(t, func(c *net.TCPConn) {
		<-release
		sink(done)(c)
	})
	r := startRelay(t, Options{Target: srv.Addr(), MaxBuffered: maxBuf})
	c := dial(t, r.Addr())

	var written atomic.Int64
	werr := make(chan error, 1)
	go func() {
		buf := randomBytes(9, 64<<10)
		for written.Load() < size {
			n, err := c.Write(buf)
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- c.CloseWrite()
	}()

	// Wait until the writer stalls: kernel buffers and the relay queue full.
	var peak int64
	last, stableSince := int64(-1), time.Now()
	// Stalled means no progress for 300ms: a heuristic, so not stalling in
	// 10s is only logged (the bound on Buffered is checked either way).
	stalled := await.Poll(10*time.Second, func() bool {
		peak = max(peak, r.Stats().Buffered)
		if w := written.Load(); w != last {
			last, stableSince = w, time.Now()
		}
		return time.Since(stableSince) > 300*time.Millisecond
	})
	st := r.Stats()
	t.Logf("stalled=%v after client wrote %d bytes; relay buffered %d (peak %d, bound %d)", stalled, last, st.Buffered, peak, maxBuf)
	if peak > maxBuf {
		t.Errorf("peak Stats().Buffered = %d; want <= MaxBuffered %d", peak, maxBuf)
	}
	if stalled && st.Buffered < maxBuf/2 {
		t.Errorf("Stats().Buffered = %d with the target not reading; want the queue near its bound %d", st.Buffered, maxBuf)
	}

	close(release)
	select {
	case got := <-done:
		if got != size {
			t.Errorf("sink got %d bytes; want %d", got, size)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sink saw no end of stream 30s after release")
	}
	if err := <-werr; err != nil {
		t.Errorf("client write: %v", err)
	}
}

// TestRelayTargetRefused checks a connection to a dead target is closed and
// the relay keeps serving once the target comes up.
func TestRelayTargetRefused(t *testing.T) {
	// Reserve a port, then free it so connections to it are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	target := ln.Addr().String()
	ln.Close()

	r := startRelay(t, Options{Target: target})
	c := dial(t, r.Addr())
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("client connection still open 10s after the target refused")
	}
	t.Logf("client read: n=%d err=%v", n, err)
	if n != 0 || err == nil {
		t.Errorf("client read = %d, %v; want 0 and EOF or reset", n, err)
	}
	await.Until(t, "Stats().Active == 0 after the dial error", func() bool { return r.Stats().Active == 0 })
	if st := r.Stats(); st.DialErrors != 1 || st.Accepted != 1 {
		t.Errorf("Stats() dial errors %d, accepted %d; want 1, 1", st.DialErrors, st.Accepted)
	}

	// Bring the target up on the same port: the same relay now works.
	startServerOn(t, target, echo)
	c2 := dial(t, r.Addr())
	if d := roundTrip(t, c2); d <= 0 {
		t.Errorf("round trip %v; want > 0", d)
	}
	if st := r.Stats(); st.Accepted != 2 || st.DialErrors != 1 {
		t.Errorf("Stats() accepted %d, dial errors %d; want 2, 1", st.Accepted, st.DialErrors)
	}
}

// TestRelayCloseNoLeaks closes a relay with data in flight and checks every
// connection is torn down and no goroutine is left behind.
func TestRelayCloseNoLeaks(t *testing.T) {
	baseline := runtime.NumGoroutine()

	srv := startServer(t, echo)
	// An hour of delay keeps the data in flight until Close, however slow
	// the machine.
	r, err := Start(Options{Target: srv.Addr(), Delay: time.Hour})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var clients []*net.TCPConn
	for range 4 {
		c := dial(t, r.Addr())
		if _, err := c.Write(randomBytes(1, 256<<10)); err != nil {
			t.Fatalf("write: %v", err)
		}
		clients = append(clients, c)
	}
	await.Until(t, "4 active connections with data in flight", func() bool { return r.Stats().Buffered > 0 && r.Stats().Active == 4 })

	start := time.Now()
	if err := r.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
	t.Logf("Close with %d connections in flight took %v", len(clients), time.Since(start))
	if err := r.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	if st := r.Stats(); st.Active != 0 || st.Buffered != 0 {
		t.Errorf("Stats() after Close: active %d, buffered %d; want 0, 0", st.Active, st.Buffered)
	}
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("client %d still open 5s after Close", i)
		}
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("dial after Close succeeded; want refused")
	}
	srv.Close()

	if !await.Poll(await.Deadline, func() bool { return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		os.Stderr.Write(buf[:n])
		t.Errorf("runtime.NumGoroutine() = %d %v after Close; want <= baseline %d", runtime.NumGoroutine(), await.Deadline, baseline)
	}
}
