package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// seqread: READs of BlockSize over SeqFiles files totalling Size. One file:
// the workers claim its blocks in order, so Concurrency READs are in flight
// like a client's readahead. Several: each worker reads whole files.

func seqDataset(p *Params) string { return fmt.Sprintf("seqread-%dx%d", p.Size, p.SeqFiles) }

func seqFileName(i int) string { return fmt.Sprintf("f%03d", i) }

func seqreadWorkload() Workload {
	return Workload{
		Name: "seqread",
		Doc:  "one READ of --bs, in order over --size",
		Setup: func(ctx context.Context, s *Session) error {
			ds := seqDataset(&s.p)
			return s.setupDataset(ctx, ds, func() error {
				dir, err := s.ensureDir(ctx, s.dir, ds)
				if err != nil {
					return err
				}
				per := s.p.Size / int64(s.p.SeqFiles)
				for i := range s.p.SeqFiles {
					if err := s.dataFile(ctx, dir, seqFileName(i), fileKey(ds+"/"+seqFileName(i)), per, s.p.BlockSize); err != nil {
						return err
					}
				}
				return nil
			})
		},
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			ds := seqDataset(&s.p)
			files, keys, err := s.seqFiles(ctx, ds, s.p.SeqFiles)
			if err != nil {
				return nil, err
			}
			bs := s.p.BlockSize
			per := s.p.Size / int64(s.p.SeqFiles)
			blocksPer := int(per / int64(bs))
			readBlock := func(ctx context.Context, w *Worker, buf []byte, f, b int) error {
				off := uint64(b) * uint64(bs)
				start := time.Now()
				n, err := s.read(ctx, files[f], off, buf)
				if err != nil {
					return err
				}
				if n != len(buf) {
					return fmt.Errorf("%s at %d: %w: short read of %d bytes before the end", seqFileName(f), off, ErrVerify, n)
				}
				if err := check(buf, keys[f], off); err != nil {
					return fmt.Errorf("%s: %w", seqFileName(f), err)
				}
				w.Done(start, int64(n), 0)
				return nil
			}
			return &Job{Work: func(ctx context.Context, w *Worker) error {
				buf := make([]byte, bs)
				if len(files) == 1 {
					for {
						b, ok := w.NextOp(blocksPer)
						if !ok {
							return nil
						}
						if err := readBlock(ctx, w, buf, 0, b); err != nil {
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
						if err := readBlock(ctx, w, buf, f, b); err != nil {
							return err
						}
					}
				}
			}}, nil
		},
	}
}

// seqFiles resolves the files of a seqread-style data set.
func (s *Session) seqFiles(ctx context.Context, ds string, n int) ([]nfs3.FH, []uint64, error) {
	dir, err := s.lookup(ctx, s.dir, ds)
	if err != nil {
		return nil, nil, err
	}
	var fhs []nfs3.FH
	var keys []uint64
	for i := range n {
		fh, err := s.lookup(ctx, dir, seqFileName(i))
		if err != nil {
			return nil, nil, err
		}
		fhs = append(fhs, fh)
		keys = append(keys, fileKey(ds+"/"+seqFileName(i)))
	}
	return fhs, keys, nil
}
