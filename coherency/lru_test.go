package coherency

import (
	"slices"
	"testing"
)

type lruItem struct {
	id int
	lk lruLinks[lruItem]
}

func (e *lruItem) links() *lruLinks[lruItem] { return &e.lk }

// order lists the ids front (most recent) to back, checking the back
// links agree with the forward ones.
func order(t *testing.T, l *lruList[lruItem, *lruItem]) []int {
	t.Helper()
	var ids []int
	var prev *lruItem
	for e := l.front; e != nil; e = e.lk.next {
		if e.lk.prev != prev {
			t.Fatalf("item %d: prev link %v; want %v", e.id, e.lk.prev, prev)
		}
		ids = append(ids, e.id)
		prev = e
	}
	if l.last() != prev {
		t.Fatalf("last() = %v; want %v", l.last(), prev)
	}
	return ids
}

func TestLRUList(t *testing.T) {
	var l lruList[lruItem, *lruItem]
	items := make([]*lruItem, 5)
	for i := range items {
		items[i] = &lruItem{id: i}
	}
	steps := []struct {
		name string
		do   func()
		want []int
	}{
		{"empty", func() {}, nil},
		{"push 0..4", func() {
			for _, e := range items {
				l.pushFront(e)
			}
		}, []int{4, 3, 2, 1, 0}},
		{"use the back", func() { l.moveToFront(items[0]) }, []int{0, 4, 3, 2, 1}},
		{"use the front", func() { l.moveToFront(items[0]) }, []int{0, 4, 3, 2, 1}},
		{"use the middle", func() { l.moveToFront(items[3]) }, []int{3, 0, 4, 2, 1}},
		{"remove the back", func() { l.remove(l.last()) }, []int{3, 0, 4, 2}},
		{"remove the front", func() { l.remove(items[3]) }, []int{0, 4, 2}},
		{"remove the middle", func() { l.remove(items[4]) }, []int{0, 2}},
		{"push a removed one", func() { l.pushFront(items[4]) }, []int{4, 0, 2}},
		{"remove all", func() {
			for l.last() != nil {
				l.remove(l.last())
			}
		}, nil},
	}
	for _, st := range steps {
		st.do()
		if got := order(t, &l); !slices.Equal(got, st.want) {
			t.Fatalf("%s: order %v; want %v", st.name, got, st.want)
		}
	}
}
