package bench

import (
	"context"
	"fmt"
	"time"
)

// stat: what stat(2) costs on a fresh name: LOOKUP of the name in its
// directory, then GETATTR of the handle, for Files files of one directory.

func statDataset(p *Params) string { return fmt.Sprintf("stat-%d", p.Files) }

func statName(i int) string { return fmt.Sprintf("f%06d", i) }

func statWorkload() Workload {
	return Workload{
		Name: "stat",
		Doc:  "LOOKUP + GETATTR of one file",
		Setup: func(ctx context.Context, s *Session) error {
			ds := statDataset(&s.p)
			return s.setupDataset(ctx, ds, func() error {
				dir, err := s.ensureDir(ctx, s.dir, ds)
				if err != nil {
					return err
				}
				return s.emptyFiles(ctx, dir, s.p.Files, statName)
			})
		},
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			dir, err := s.lookup(ctx, s.dir, statDataset(&s.p))
			if err != nil {
				return nil, err
			}
			return &Job{Work: func(ctx context.Context, w *Worker) error {
				for {
					i, ok := w.NextOp(s.p.Files)
					if !ok {
						return nil
					}
					start := time.Now()
					fh, err := s.lookup(ctx, dir, statName(i))
					if err != nil {
						return err
					}
					if _, err := s.getattr(ctx, fh); err != nil {
						return fmt.Errorf("%s: %w", statName(i), err)
					}
					w.Done(start, 0, 0)
				}
			}}, nil
		},
	}
}
