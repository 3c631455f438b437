package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// list: full listings (every READDIRPLUS page, with Linux's dircount and
// maxcount) of a directory of Entries empty files, Listings times. A listing
// that does not hold exactly the entries of the data set is an ErrVerify.

func listDataset(p *Params) string { return fmt.Sprintf("list-%d", p.Entries) }

func listName(i int) string { return fmt.Sprintf("e%06d", i) }

func listWorkload() Workload {
	return Workload{
		Name: "list",
		Doc:  "one full READDIRPLUS listing of the directory",
		Setup: func(ctx context.Context, s *Session) error {
			ds := listDataset(&s.p)
			return s.setupDataset(ctx, ds, func() error {
				dir, err := s.ensureDir(ctx, s.dir, ds)
				if err != nil {
					return err
				}
				return s.emptyFiles(ctx, dir, s.p.Entries, listName)
			})
		},
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			dir, err := s.lookup(ctx, s.dir, listDataset(&s.p))
			if err != nil {
				return nil, err
			}
			return &Job{Work: func(ctx context.Context, w *Worker) error {
				for {
					if _, ok := w.NextOp(s.p.Listings); !ok {
						return nil
					}
					start := time.Now()
					n := 0
					if _, err := s.list(ctx, dir, func(*nfs3.DirEntryPlus) error { n++; return nil }); err != nil {
						return err
					}
					if n != s.p.Entries {
						return fmt.Errorf("%w: listing has %d entries; want %d", ErrVerify, n, s.p.Entries)
					}
					w.Items(int64(n))
					w.Done(start, 0, 0)
				}
			}}, nil
		},
	}
}
