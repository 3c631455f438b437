package upstream

import (
	"context"
	"errors"
)

// Starting with an unreachable upstream: Start is Dial for a proxy with
// several volumes, where one volume's filer being down must not keep the
// others from being served. When the first MNT fails for any reason but a
// refusal (ErrMountDenied is a configuration error and stays fatal), Start
// returns a client that is not mounted yet: Root is nil, calls fail with
// ErrNotMounted, Up is false (nfscacheproxy_upstream_up 0), and one owned
// goroutine retries the MNT with backoff (MountRetryMin doubling to
// MountRetryMax) until it succeeds or Close. The state changes are logged
// once each: "upstream unreachable at start" and "upstream up again".

// Start dials like Dial; an upstream that cannot be mounted yet is retried
// in the background instead of failing (see above). Mounted tells when it
// is.
func Start(ctx context.Context, opts Options) (*Client, error) {
	c, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	err = c.mount(ctx)
	switch {
	case err == nil:
		c.startWatch()
		return c, nil
	case errors.Is(err, ErrMountDenied) || ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, err
	}
	c.markDown("mount: " + err.Error())
	c.log.Warn("upstream unreachable at start: retrying the mount in the background", "err", err, "retry", c.opts.MountRetryMin)
	wctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = cancel
	c.watchers.Add(1)
	go c.mountLoop(wctx)
	return c, nil
}

// Mounted is closed once the client has mounted its export.
func (c *Client) Mounted() <-chan struct{} { return c.mountedCh }

// mountLoop retries the MNT until it succeeds or ctx ends, then runs the
// hang watchdog in the same goroutine.
func (c *Client) mountLoop(ctx context.Context) {
	defer c.watchers.Done()
	wait := c.opts.MountRetryMin
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.opts.Clock.After(wait):
		}
		actx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
		err := c.mount(actx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Debug("upstream mount retry failed", "err", err, "next", wait)
		wait = min(2*wait, c.opts.MountRetryMax)
	}
	c.markUp() // logs "upstream up again"
	c.watchers.Add(1)
	c.watch(ctx)
}
