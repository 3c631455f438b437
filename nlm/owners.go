package nlm

import (
	"strconv"
	"sync"
)

// client identifies one NLM client host: the caller_name it sends and the
// address it calls from (a caller_name alone can be forged or reused by
// two hosts behind one proxy).
type client struct {
	name string
	addr string // IP, no port
}

// owner is one lock owner on one client: the svid (process id) and owner
// handle the client sends.
type owner struct {
	c    client
	svid int32
	oh   string
}

// upOwner is what the upstream sees for an owner: our caller_name (set by
// the server), a svid unique among all our clients' owners, and an owner
// handle "svid@name" in the style of the Linux client.
type upOwner struct {
	svid int32
	oh   []byte
}

// owners maps client owners to upstream owners and back. A mapping lives
// while a request of its owner is in flight (refs), the upstream may hold
// a lock of it, or a blocked request of it waits; the server then drops it
// (prune), and a later request gets a new upstream svid. FREE_ALL drops a
// client's mappings at once. An entry is some 100 bytes.
type owners struct {
	name string // our caller_name, part of every upstream owner handle

	// mu guards the fields below.
	mu     sync.Mutex
	next   int32
	byOwn  map[owner]upOwner
	bySvid map[int32]owner
	refs   map[owner]int // requests in flight per owner
}

// newOwners returns an empty mapping whose upstream svids start at base.
// The server seeds base from the clock, so a restarted proxy does not
// hand out the svids of owners whose locks the upstream may still hold
// (the upstream tells owners apart by caller_name and svid only).
func newOwners(name string, base int32) *owners {
	return &owners{name: name, next: base, byOwn: make(map[owner]upOwner), bySvid: make(map[int32]owner), refs: make(map[owner]int)}
}

// acquire returns the upstream owner for o, allocating one the first
// time, and counts a request of o in flight until release.
func (m *owners) acquire(o owner) upOwner {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs[o]++
	return m.upLocked(o)
}

// release ends a request of o begun with acquire.
func (m *owners) release(o owner) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refs[o]--; m.refs[o] <= 0 {
		delete(m.refs, o)
	}
}

// up returns the upstream owner for o, allocating one the first time.
func (m *owners) up(o owner) upOwner {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.upLocked(o)
}

// dropIdle forgets o unless a request of it is in flight; the caller has
// checked that the upstream holds nothing of it.
func (m *owners) dropIdle(o owner) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refs[o] > 0 {
		return
	}
	if u, ok := m.byOwn[o]; ok {
		delete(m.byOwn, o)
		delete(m.bySvid, u.svid)
	}
}

// lookup returns o's upstream owner without allocating one.
func (m *owners) lookup(o owner) (upOwner, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.byOwn[o]
	return u, ok
}

func (m *owners) upLocked(o owner) upOwner {
	if u, ok := m.byOwn[o]; ok {
		return u
	}
	for {
		m.next++
		if m.next <= 0 {
			m.next = 1
		}
		if _, taken := m.bySvid[m.next]; !taken {
			break
		}
	}
	u := upOwner{svid: m.next, oh: []byte(strconv.Itoa(int(m.next)) + "@" + m.name)}
	m.byOwn[o] = u
	m.bySvid[u.svid] = o
	return u
}

// down returns the client owner behind upstream svid.
func (m *owners) down(svid int32) (owner, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.bySvid[svid]
	return o, ok
}

// forget drops every mapping of client c and returns the upstream owners
// it had.
func (m *owners) forget(c client) []upOwner {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ups []upOwner
	for o, u := range m.byOwn {
		if o.c == c {
			ups = append(ups, u)
			delete(m.byOwn, o)
			delete(m.bySvid, u.svid)
		}
	}
	return ups
}

// clientsWhere returns the clients for which match is true.
func (m *owners) clientsWhere(match func(client) bool) []client {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[client]bool)
	var cs []client
	for o := range m.byOwn {
		if !seen[o.c] && match(o.c) {
			seen[o.c] = true
			cs = append(cs, o.c)
		}
	}
	return cs
}
