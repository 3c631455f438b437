package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// smallfile: CREATE (GUARDED) of a new name, one FILE_SYNC WRITE of
// SmallFileSize, REMOVE. Names carry a per-run tag, so leftovers of an
// interrupted run never collide. Nothing is left behind.

func smallfileWorkload() Workload {
	return Workload{
		Name: "smallfile",
		Doc:  "CREATE + FILE_SYNC WRITE of 4 KiB + REMOVE",
		Run: func(ctx context.Context, s *Session) (*Job, error) {
			dir, err := s.ensureDir(ctx, s.dir, "smallfile")
			if err != nil {
				return nil, err
			}
			tag := fmt.Sprintf("%08x", uint32(mix(uint64(time.Now().UnixNano()))))
			return &Job{Work: func(ctx context.Context, w *Worker) error {
				buf := make([]byte, s.p.SmallFileSize)
				for {
					i, ok := w.NextOp(s.p.SmallFiles)
					if !ok {
						return nil
					}
					name := fmt.Sprintf("%s-%06d", tag, i)
					fill(buf, fileKey("smallfile/"+name), 0)
					start := time.Now()
					fh, err := s.create(ctx, dir, name, true)
					if err != nil {
						return err
					}
					if len(buf) > 0 {
						if err := s.write(ctx, fh, 0, buf, nfs3.FileSync); err != nil {
							return fmt.Errorf("%s: %w", name, err)
						}
					}
					if err := s.remove(ctx, dir, name); err != nil {
						return err
					}
					w.Done(start, 0, int64(len(buf)))
				}
			}}, nil
		},
	}
}
