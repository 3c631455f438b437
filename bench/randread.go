package bench

import (
	"context"
	"fmt"
	"time"
)

// randread: READs of RandIO at aligned pseudo-random offsets of one file of
// RandFileSize. The offset of the i-th read depends on i only, so every
// pass reads the same offsets whatever the concurrency.

func randDataset(p *Params) string { return fmt.Sprintf("randread-%d", p.RandFileSize) }

// mix is splitmix64: a well-spread hash of i.
func mix(i uint64) uint64 {
	i += 0x9e3779b97f4a7c15
	i = (i ^ i>>30) * 0xbf58476d1ce4e5b9
	i = (i ^ i>>27) * 0x94d049bb133111eb
	return i ^ i>>31
}

func randreadWorkload() Workload {
	return Workload{
		Name: "randread",
		Doc:  "one READ of 4 KiB at a random aligned offset",
		Setup: func(ctx context.Context, s *Session) error {
			ds := randDataset(&s.p)
			return s.setupDataset(ctx, ds, func() error {
				dir, err := s.ensureDir(ctx, s.dir, ds)
				if err != nil {
					return err
				}
				return s.dataFile(ctx, dir, seqFileName(0), fileKey(ds+"/"+seqFileName(0)), s.p.RandFileSize, 1<<20)
			})
		},
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			ds := randDataset(&s.p)
			files, keys, err := s.seqFiles(ctx, ds, 1)
			if err != nil {
				return nil, err
			}
			ioSize := s.p.RandIO
			slots := uint64(s.p.RandFileSize / int64(ioSize))
			return &Job{Work: func(ctx context.Context, w *Worker) error {
				buf := make([]byte, ioSize)
				for {
					i, ok := w.NextOp(s.p.RandReads)
					if !ok {
						return nil
					}
					off := mix(uint64(i)) % slots * uint64(ioSize)
					start := time.Now()
					n, err := s.read(ctx, files[0], off, buf)
					if err != nil {
						return err
					}
					if n != ioSize {
						return fmt.Errorf("read at %d: %w: short read of %d bytes", off, ErrVerify, n)
					}
					if err := check(buf, keys[0], off); err != nil {
						return err
					}
					w.Done(start, int64(n), 0)
				}
			}}, nil
		},
	}
}
