package bench

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// walk: a recursive walk of a tree, like find(1) on a fresh mount: every
// directory is listed with READDIRPLUS (all pages) and every subdirectory
// is looked up before the walk descends into it. The workers share a queue
// of directories. An op is one directory; the entries seen are items.
//
// The tree has b directories, each with b subdirectories holding f empty
// files, b and f chosen so that b + b² + b²·f is about TreeEntries.

func walkDataset(p *Params) string { return fmt.Sprintf("walk-%d", p.TreeEntries) }

// treeShape returns the fan-out and the files per leaf directory.
func treeShape(n int) (b, f int) {
	b = max(2, int(math.Sqrt(float64(n)/20)))
	f = max(1, (n-b-b*b)/(b*b))
	return b, f
}

// treeEntries is the number of entries below the root of the tree.
func treeEntries(n int) int {
	b, f := treeShape(n)
	return b + b*b + b*b*f
}

func walkWorkload() Workload {
	return Workload{
		Name: "walk",
		Doc:  "one directory of a tree walk: READDIRPLUS pages + LOOKUP of its subdirectories",
		Setup: func(ctx context.Context, s *Session) error {
			ds := walkDataset(&s.p)
			return s.setupDataset(ctx, ds, func() error {
				root, err := s.ensureDir(ctx, s.dir, ds)
				if err != nil {
					return err
				}
				b, f := treeShape(s.p.TreeEntries)
				tops := make([]nfs3.FH, b)
				for i := range b {
					if tops[i], err = s.ensureDir(ctx, root, fmt.Sprintf("d%03d", i)); err != nil {
						return err
					}
				}
				return parallel(ctx, b*b, s.p.SetupConcurrency, func(ctx context.Context, k int) error {
					leaf, err := s.ensureDir(ctx, tops[k/b], fmt.Sprintf("d%03d", k%b))
					if err != nil {
						return err
					}
					return s.emptyFiles(ctx, leaf, f, func(i int) string { return fmt.Sprintf("f%04d", i) })
				})
			})
		},
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			root, err := s.lookup(ctx, s.dir, walkDataset(&s.p))
			if err != nil {
				return nil, err
			}
			q := newDirQueue(root)
			var seen atomic.Int64
			return &Job{
				Work: func(ctx context.Context, w *Worker) error {
					for {
						dir, ok := q.pop()
						if !ok {
							return nil
						}
						if !w.Op() {
							q.close()
							return nil
						}
						start := time.Now()
						subdirs, n, err := s.walkDir(ctx, dir)
						if err != nil {
							q.close()
							return err
						}
						q.push(subdirs)
						q.finish()
						seen.Add(int64(n))
						w.Items(int64(n))
						w.Done(start, 0, 0)
					}
				},
				Finish: func(ctx context.Context) error {
					if q.wasClosed() {
						return nil // cut short: nothing to check
					}
					if got, want := seen.Load(), int64(treeEntries(s.p.TreeEntries)); got != want {
						return fmt.Errorf("%w: walk saw %d entries; want %d", ErrVerify, got, want)
					}
					return nil
				},
			}, nil
		},
	}
}

// walkDir lists dir and looks up its subdirectories; it returns their
// handles and the number of entries.
func (s *Session) walkDir(ctx context.Context, dir nfs3.FH) ([]nfs3.FH, int, error) {
	var names []string
	n := 0
	_, err := s.list(ctx, dir, func(e *nfs3.DirEntryPlus) error {
		n++
		if !e.Attr.Set || e.Attr.Attr.Type == nfs3.TypeDir {
			names = append(names, e.Name)
		}
		return nil
	})
	if err != nil {
		return nil, n, err
	}
	var subdirs []nfs3.FH
	for _, name := range names {
		res, err := s.c.Lookup(ctx, &s.cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: dir, Name: name}})
		if err != nil {
			return nil, n, fmt.Errorf("lookup %s: %w", name, err)
		}
		if res.Status != nfs3.StatOK {
			return nil, n, fmt.Errorf("lookup %s: %w", name, res.Status)
		}
		if res.ObjAttr.Set && res.ObjAttr.Attr.Type != nfs3.TypeDir {
			continue // an entry without attributes that was no directory
		}
		subdirs = append(subdirs, res.Object)
	}
	return subdirs, n, nil
}

// dirQueue hands directories to the walkers. pop blocks while the queue is
// empty but some walker may still push; it fails once everything is walked
// or the queue is closed.
type dirQueue struct {
	// mu guards the fields below; cond signals a push, a finish or close.
	mu     sync.Mutex
	cond   *sync.Cond
	dirs   []nfs3.FH
	busy   int // directories popped and not finished
	closed bool
}

func newDirQueue(root nfs3.FH) *dirQueue {
	q := &dirQueue{dirs: []nfs3.FH{root}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *dirQueue) pop() (nfs3.FH, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.dirs) == 0 && q.busy > 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed || len(q.dirs) == 0 {
		return nil, false
	}
	fh := q.dirs[len(q.dirs)-1]
	q.dirs = q.dirs[:len(q.dirs)-1]
	q.busy++
	return fh, true
}

func (q *dirQueue) push(dirs []nfs3.FH) {
	if len(dirs) == 0 {
		return
	}
	q.mu.Lock()
	q.dirs = append(q.dirs, dirs...)
	q.mu.Unlock()
	q.cond.Broadcast()
}

// finish marks a popped directory done.
func (q *dirQueue) finish() {
	q.mu.Lock()
	q.busy--
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *dirQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *dirQueue) wasClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
