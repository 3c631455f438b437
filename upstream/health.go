package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Health: whether the upstream answers, as the proxy sees it.
//
// The upstream is up after Dial. It goes down when a connection cannot be
// dialled, when an established connection is lost, or when a connection
// that has calls outstanding stops answering: the watchdog sends a NULL
// call with a short deadline on a connection whose last reply is older
// than HangAfter while it has calls in flight, and a NULL that gets no
// answer within PingTimeout breaks that connection (its calls fail with
// ErrUpstreamHung and are retried, by the usual rules, on a new one). It
// is up again at the next reply. Each change is logged once: down with
// the reason, up with how long it was down.
//
// Lock order: health.mu is a leaf; it is never held while calling out.

// ErrUpstreamHung: the connection carried calls and did not answer a NULL
// ping within Options.PingTimeout, so it was broken on purpose. Unlike a
// connection the server closed, this does not count toward the rule that a
// call in flight twice when its connection died is not sent again.
var ErrUpstreamHung = errors.New("upstream: not answering")

type health struct {
	mu     sync.Mutex
	down   bool
	since  time.Time // when it went down
	reason string
}

// markDown records that the upstream does not answer, logging the change.
func (c *Client) markDown(reason string) {
	now := c.opts.Clock.Now()
	c.health.mu.Lock()
	if c.health.down {
		c.health.mu.Unlock()
		return
	}
	c.health.down, c.health.since, c.health.reason = true, now, reason
	c.stats.isDown.Store(true)
	c.health.mu.Unlock()
	c.stats.downs.Add(1)
	c.log.Warn("upstream down", "addr", c.nfsAddr, "reason", reason)
}

// markUp records a reply, logging the change when the upstream was down.
// Its fast path is one atomic load, as it runs for every reply.
func (c *Client) markUp() {
	if !c.stats.isDown.Load() {
		return
	}
	now := c.opts.Clock.Now()
	c.health.mu.Lock()
	if !c.health.down {
		c.health.mu.Unlock()
		return
	}
	c.health.down = false
	c.stats.isDown.Store(false)
	downFor, reason := now.Sub(c.health.since), c.health.reason
	c.health.mu.Unlock()
	c.log.Info("upstream up again", "addr", c.nfsAddr, "down_for", downFor.Round(time.Millisecond), "was", reason)
}

// Up reports whether the upstream answered since it was last seen down.
func (c *Client) Up() bool { return !c.stats.isDown.Load() }

// watch runs the hang watchdog until ctx ends.
func (c *Client) watch(ctx context.Context) {
	defer c.watchers.Done()
	t := c.opts.Clock.NewTicker(c.opts.HangCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		c.mu.Lock()
		conns := append([]*conn(nil), c.conns...)
		c.mu.Unlock()
		now := c.opts.Clock.Now()
		for _, cn := range conns {
			if cn == nil || cn.isBroken() || cn.inflight.Load() == 0 {
				continue
			}
			if last := time.Unix(0, cn.lastReply.Load()); now.Sub(last) < c.opts.HangAfter {
				continue
			}
			if err := c.ping(ctx, cn); err != nil && ctx.Err() == nil {
				n := cn.inflight.Load()
				reason := fmt.Sprintf("no reply to a NULL call within %v, %d calls outstanding", c.opts.PingTimeout, n)
				cn.fail(fmt.Errorf("%w: %s", ErrUpstreamHung, reason))
				c.stats.hangs.Add(1)
				c.markDown(reason)
			}
		}
	}
}

// ping sends NFS NULL on cn and waits at most PingTimeout for the reply.
func (c *Client) ping(ctx context.Context, cn *conn) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	xid := c.xid.Add(1)
	msg := encodeNull((*bp)[:0], xid)
	*bp = msg
	_, err := cn.roundTrip(ctx, xid, msg, time.Now().Add(c.opts.PingTimeout))
	return err
}

// encodeNull appends a record (mark placeholder included) of an NFS NULL
// call with AUTH_NONE to buf.
func encodeNull(buf []byte, xid uint32) []byte {
	w := xdr.NewWriter(buf)
	w.Uint32(0) // record mark, filled in by roundTrip
	rpc.EncodeCall(w, xid, nfs3.Program, nfs3.Version, 0, &rpc.Cred{Flavor: rpc.AuthNone})
	return w.Buf
}
