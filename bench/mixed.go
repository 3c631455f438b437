package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// mixed: for Duration (default 5s), each op is drawn at random: 70% a READ
// of MixedIO at an aligned offset of one of MixedFiles files, 20% a stat
// (LOOKUP + GETATTR) of one of them, 10% an UNSTABLE WRITE of MixedIO into
// the worker's own scratch file. The scratch files are COMMITted at the end
// (timed). The data files are never written, so a cache may keep them.

func mixedDataset(p *Params) string { return fmt.Sprintf("mixed-%dx%d", p.MixedFiles, p.MixedFileSize) }

func mixedWorkload() Workload {
	return Workload{
		Name:    "mixed",
		Doc:     "70% READ of 64 KiB, 20% stat, 10% WRITE of 64 KiB",
		Endless: true,
		Setup: func(ctx context.Context, s *Session) error {
			ds := mixedDataset(&s.p)
			return s.setupDataset(ctx, ds, func() error {
				dir, err := s.ensureDir(ctx, s.dir, ds)
				if err != nil {
					return err
				}
				return parallel(ctx, s.p.MixedFiles, 2, func(ctx context.Context, i int) error {
					return s.dataFile(ctx, dir, seqFileName(i), fileKey(ds+"/"+seqFileName(i)), s.p.MixedFileSize, 1<<20)
				})
			})
		},
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			ds := mixedDataset(&s.p)
			dir, err := s.lookup(ctx, s.dir, ds)
			if err != nil {
				return nil, err
			}
			files, keys, err := s.seqFiles(ctx, ds, s.p.MixedFiles)
			if err != nil {
				return nil, err
			}
			scratchDir, err := s.ensureDir(ctx, s.dir, "mixed-scratch")
			if err != nil {
				return nil, err
			}
			scratch := make([]nfs3.FH, s.p.Concurrency)
			for i := range scratch {
				if scratch[i], err = s.create(ctx, scratchDir, fmt.Sprintf("w%03d", i), false); err != nil {
					return nil, err
				}
			}
			ioSize := s.p.MixedIO
			slots := int(s.p.MixedFileSize / int64(ioSize))
			return &Job{
				Work: func(ctx context.Context, w *Worker) error {
					buf := make([]byte, ioSize)
					for w.Op() {
						f := w.Rand.IntN(len(files))
						off := uint64(w.Rand.IntN(slots)) * uint64(ioSize)
						start := time.Now()
						switch r := w.Rand.IntN(100); {
						case r < 70:
							n, err := s.read(ctx, files[f], off, buf)
							if err != nil {
								return err
							}
							if n != ioSize {
								return fmt.Errorf("%s at %d: %w: short read of %d bytes", seqFileName(f), off, ErrVerify, n)
							}
							if err := check(buf, keys[f], off); err != nil {
								return fmt.Errorf("%s: %w", seqFileName(f), err)
							}
							w.Done(start, int64(n), 0)
						case r < 90:
							fh, err := s.lookup(ctx, dir, seqFileName(f))
							if err != nil {
								return err
							}
							if _, err := s.getattr(ctx, fh); err != nil {
								return err
							}
							w.Done(start, 0, 0)
						default:
							fill(buf, uint64(w.ID), off)
							start = time.Now()
							if err := s.write(ctx, scratch[w.ID], off, buf, nfs3.Unstable); err != nil {
								return err
							}
							w.Done(start, 0, int64(ioSize))
						}
					}
					return nil
				},
				Finish: func(ctx context.Context) error {
					return parallel(ctx, len(scratch), s.p.Concurrency, func(ctx context.Context, i int) error {
						return s.commit(ctx, scratch[i])
					})
				},
			}, nil
		},
	}
}
