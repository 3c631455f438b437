package upstream

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestHungUpstreamDetected: an upstream that accepts calls but stops
// answering (NULL included) is found by the watchdog once a connection has
// had calls outstanding and no reply for HangAfter: the connection is
// broken, the upstream marked down and that logged once; hard-mode calls
// go on retrying, and when the upstream answers again the call succeeds,
// the upstream is up and that is logged once, with how long it was down.
func TestHungUpstreamDetected(t *testing.T) {
	var hung atomic.Bool
	s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		if hung.Load() {
			return false
		}
		if h.Proc == 0 {
			rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
			return true
		}
		getattrOK(h, w)
		return true
	})
	clk := clockwork.NewFakeClock()
	logs := &logBuffer{}
	c := dialFake(t, s, Options{Conns: 1, Hard: true, Clock: clk, CallTimeout: time.Hour,
		HangAfter: 15 * time.Second, HangCheck: 5 * time.Second, PingTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if _, err := c.Getattr(context.Background(), &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}}); err != nil {
		t.Fatal(err)
	}
	if !c.Up() {
		t.Fatal("Up = false after a reply; want true")
	}

	hung.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Getattr(ctx, &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}})
		done <- err
	}()
	await.Until(t, "the GETATTR to reach the hung upstream", func() bool { return s.calls[nfs3.ProcGetattr].Load() == 2 })
	// Within HangAfter nothing happens.
	clk.Advance(10 * time.Second)
	if !c.Up() || c.Stats().Hangs != 0 {
		t.Fatalf("Up %v, Hangs %d 10s into the hang; want up, no hang yet (HangAfter 15s)", c.Up(), c.Stats().Hangs)
	}
	clk.Advance(10 * time.Second)
	// Wait for the watchdog's last effects (the hang counted, the change
	// logged), not for the first (Up turning false), so the exact counts
	// below are read after it is done.
	await.Until(t, "the watchdog to count the hang and log the upstream down", func() bool {
		return c.Stats().Hangs >= 1 && logs.count("upstream down") >= 1
	})
	if c.Up() {
		t.Fatal("Up = true after the watchdog found the hang; want false")
	}
	if st := c.Stats(); st.Hangs != 1 || st.Downs != 1 {
		t.Fatalf("Hangs %d, Downs %d; want 1 and 1", st.Hangs, st.Downs)
	}
	if n := logs.count("upstream down"); n != 1 {
		t.Fatalf("%d 'upstream down' lines; want 1", n)
	}

	// The upstream answers again: the hard-mode call, retried after its
	// backoff on a new connection, succeeds.
	hung.Store(false)
	await.Until(t, "the GETATTR to succeed once the upstream answers", func() bool {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("GETATTR after the hang: %v; want success", err)
			}
			return true
		default:
			clk.Advance(time.Second) // past the retry backoff
			return false
		}
	})
	if !c.Up() {
		t.Fatal("Up = false after a reply; want true")
	}
	if n := logs.count("upstream up again"); n != 1 {
		t.Fatalf("%d 'upstream up again' lines; want 1", n)
	}
}

// TestUnreachableUpstreamLoggedOnce: calls to an upstream that refuses
// connections mark it down once, however many fail.
func TestUnreachableUpstreamLoggedOnce(t *testing.T) {
	s := newFakeServer(t, func(h *rpc.CallHeader, args []byte, w *xdr.Writer) bool {
		getattrOK(h, w)
		return true
	})
	logs := &logBuffer{}
	c := dialFake(t, s, Options{Conns: 1, Retries: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	s.close() // listener and connections gone: dials are refused
	for range 5 {
		if _, err := c.Getattr(context.Background(), &cred, &nfs3.GetattrArgs{Object: nfs3.FH{1}}); err == nil {
			t.Fatal("GETATTR with the upstream gone: nil error")
		}
	}
	if c.Up() {
		t.Fatal("Up = true with the upstream gone; want false")
	}
	if n := logs.count("upstream down"); n != 1 {
		t.Fatalf("%d 'upstream down' lines after 5 failed calls; want 1", n)
	}
}
