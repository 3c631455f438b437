package coherency

// lruList is an intrusive doubly linked list, most recently used first:
// the links live in the entries themselves (E's lruLinks), so keeping an
// entry in LRU order costs 16 bytes in it rather than a separate
// container/list element (48 bytes and a pointer to it). The caller's
// lock guards the list and every link in it.
type lruList[E any, P interface {
	*E
	links() *lruLinks[E]
}] struct {
	front, back *E
}

// lruLinks is an entry's place in an lruList; both nil when it is in none
// (or alone in one).
type lruLinks[E any] struct{ prev, next *E }

func (l *lruList[E, P]) pushFront(e *E) {
	P(e).links().prev, P(e).links().next = nil, l.front
	if l.front != nil {
		P(l.front).links().prev = e
	} else {
		l.back = e
	}
	l.front = e
}

func (l *lruList[E, P]) remove(e *E) {
	lk := P(e).links()
	if lk.prev != nil {
		P(lk.prev).links().next = lk.next
	} else {
		l.front = lk.next
	}
	if lk.next != nil {
		P(lk.next).links().prev = lk.prev
	} else {
		l.back = lk.prev
	}
	lk.prev, lk.next = nil, nil
}

func (l *lruList[E, P]) moveToFront(e *E) {
	if l.front == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// last returns the least recently used entry, nil if the list is empty.
func (l *lruList[E, P]) last() *E { return l.back }

// init empties the list (the entries it held are dropped with it).
func (l *lruList[E, P]) init() { l.front, l.back = nil, nil }
