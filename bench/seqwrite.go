package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// seqwrite: UNSTABLE WRITEs of BlockSize over SeqFiles files totalling Size
// (truncated first, untimed), then a COMMIT of every file (timed). The
// workers share the blocks as in seqread.

func seqwriteWorkload() Workload {
	return Workload{
		Name: "seqwrite",
		Doc:  "one UNSTABLE WRITE of --bs, in order over --size, then COMMIT",
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			dir, err := s.ensureDir(ctx, s.dir, "seqwrite")
			if err != nil {
				return nil, err
			}
			var files []nfs3.FH
			for i := range s.p.SeqFiles {
				fh, err := s.create(ctx, dir, seqFileName(i), false)
				if err != nil {
					return nil, err
				}
				files = append(files, fh)
			}
			bs := s.p.BlockSize
			blocksPer := int(s.p.Size / int64(s.p.SeqFiles) / int64(bs))
			writeBlock := func(ctx context.Context, w *Worker, buf []byte, f, b int) error {
				off := uint64(b) * uint64(bs)
				fill(buf, fileKey(fmt.Sprintf("seqwrite/%s", seqFileName(f))), off)
				start := time.Now()
				if err := s.write(ctx, files[f], off, buf, nfs3.Unstable); err != nil {
					return fmt.Errorf("%s: %w", seqFileName(f), err)
				}
				w.Done(start, 0, int64(len(buf)))
				return nil
			}
			return &Job{
				Work: func(ctx context.Context, w *Worker) error {
					buf := make([]byte, bs)
					if len(files) == 1 {
						for {
							b, ok := w.NextOp(blocksPer)
							if !ok {
								return nil
							}
							if err := writeBlock(ctx, w, buf, 0, b); err != nil {
								return err
							}
						}
					}
					for {
						f, ok := w.Next(len(files))
						if !ok {
							return nil
						}
						for b := 0; b < blocksPer; b++ {
							if !w.Op() {
								return nil
							}
							if err := writeBlock(ctx, w, buf, f, b); err != nil {
								return err
							}
						}
					}
				},
				Finish: func(ctx context.Context) error {
					return parallel(ctx, len(files), s.p.Concurrency, func(ctx context.Context, i int) error {
						return s.commit(ctx, files[i])
					})
				},
			}, nil
		},
	}
}
