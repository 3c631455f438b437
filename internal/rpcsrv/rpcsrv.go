package rpcsrv

import (
	"io"
	"sync"
)

// Group tracks one server's sockets and the goroutines serving them. The
// zero value is ready to use.
type Group struct {
	wg sync.WaitGroup // loops serving sockets, connections, other goroutines

	// mu guards closed, sockets and conns.
	mu      sync.Mutex
	closed  bool
	sockets map[io.Closer]struct{} // listeners and packet conns being served
	conns   map[io.Closer]struct{} // accepted connections being served
}

// Enter registers l, a listener or packet conn that the calling goroutine
// is about to serve; the caller defers Leave(l). After Stop or Close it
// registers nothing and returns false (l is the caller's to close).
func (g *Group) Enter(l io.Closer) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	if g.sockets == nil {
		g.sockets = make(map[io.Closer]struct{})
	}
	g.sockets[l] = struct{}{}
	g.wg.Add(1)
	return true
}

// Leave ends the serving of l, registered by Enter. l stays registered,
// so Close closes it even when its loop ended on an error of its own.
func (g *Group) Leave(l io.Closer) { g.wg.Done() }

// Go serves the accepted connection c with serve on a goroutine of the
// group, unless the group is closed or admit refuses it. admit (nil:
// admit all) is called under the group's lock with the number of
// connections open; it may take the caller's own locks. When Go returns
// false c is not registered and is the caller's to close (so the caller
// can count a refusal before the client sees it).
func (g *Group) Go(c io.Closer, admit func(open int) bool, serve func()) bool {
	g.mu.Lock()
	if g.closed || admit != nil && !admit(len(g.conns)) {
		g.mu.Unlock()
		return false
	}
	if g.conns == nil {
		g.conns = make(map[io.Closer]struct{})
	}
	g.conns[c] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		serve()
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
	}()
	return true
}

// Run runs f on a goroutine of the group (which Close waits for), unless
// the group is closed (false). f must return once the owner's stop
// signal (a context it cancels before Close) is given.
func (g *Group) Run(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Closed reports whether Stop or Close was called.
func (g *Group) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Stop stops accepting: from now on nothing registers, and every
// listener and packet conn is closed. Connections stay open (a drain).
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for l := range g.sockets {
		l.Close()
	}
}

// Shut is Stop that also closes every connection, without waiting.
func (g *Group) Shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for l := range g.sockets {
		l.Close()
	}
	for c := range g.conns {
		c.Close()
	}
}

// Wait waits for every goroutine of the group.
func (g *Group) Wait() { g.wg.Wait() }

// Close is Shut, then Wait.
func (g *Group) Close() {
	g.Shut()
	g.Wait()
}
