package bench

import (
	"context"
	"fmt"
	"strings"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Workload is one standard benchmark.
type Workload struct {
	Name string
	// Doc says in a line what an op is.
	Doc string
	// Setup creates the data set when it is missing. Untimed, idempotent.
	// Nil: nothing to create.
	Setup func(ctx context.Context, s *Session) error
	// Run resolves what the timed part needs (untimed) and returns it.
	Run func(ctx context.Context, s *Session) (*Job, error)
	// Endless workloads have no work list of their own and run for
	// Params.Duration (default 5s).
	Endless bool
}

// Workloads returns the standard workloads in their standard order.
func Workloads() []Workload {
	return []Workload{
		seqreadWorkload(),
		seqwriteWorkload(),
		randreadWorkload(),
		statWorkload(),
		listWorkload(),
		walkWorkload(),
		smallfileWorkload(),
		mixedWorkload(),
	}
}

// Names returns the names of the standard workloads.
func Names() []string {
	var names []string
	for _, w := range Workloads() {
		names = append(names, w.Name)
	}
	return names
}

// Find returns the named workloads in the order given.
func Find(names []string) ([]Workload, error) {
	all := Workloads()
	var out []Workload
	for _, n := range names {
		found := false
		for _, w := range all {
			if w.Name == n {
				out = append(out, w)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownWorkload, n, strings.Join(Names(), ", "))
		}
	}
	return out, nil
}

// The data sets: a directory (or file) in the bench directory named after
// the parameters, and a marker "<name>.done" written once it is complete.

func (s *Session) isDone(ctx context.Context, dataset string) (bool, error) {
	return s.exists(ctx, s.dir, dataset+".done")
}

func (s *Session) markDone(ctx context.Context, dataset string) error {
	_, err := s.create(ctx, s.dir, dataset+".done", false)
	return err
}

// setupDataset runs build unless the data set is marked done, then marks it.
func (s *Session) setupDataset(ctx context.Context, dataset string, build func() error) error {
	done, err := s.isDone(ctx, dataset)
	if err != nil || done {
		return err
	}
	if err := build(); err != nil {
		return fmt.Errorf("%s: %w", dataset, err)
	}
	return s.markDone(ctx, dataset)
}

// emptyFiles makes sure dir holds the files named name(0..n-1), creating
// the missing ones.
func (s *Session) emptyFiles(ctx context.Context, dir nfs3.FH, n int, name func(int) string) error {
	have, err := s.names(ctx, dir)
	if err != nil {
		return err
	}
	return parallel(ctx, n, s.p.SetupConcurrency, func(ctx context.Context, i int) error {
		if have[name(i)] {
			return nil
		}
		_, err := s.create(ctx, dir, name(i), false)
		return err
	})
}

// dataFile creates (or truncates) name in dir and writes size bytes of the
// pattern keyed by key, UNSTABLE in blocks of bs, then COMMITs.
func (s *Session) dataFile(ctx context.Context, dir nfs3.FH, name string, key uint64, size int64, bs int) error {
	fh, err := s.create(ctx, dir, name, false)
	if err != nil {
		return err
	}
	blocks := int((size + int64(bs) - 1) / int64(bs))
	err = parallel(ctx, blocks, s.p.SetupConcurrency, func(ctx context.Context, i int) error {
		off := int64(i) * int64(bs)
		b := make([]byte, min(int64(bs), size-off))
		fill(b, key, uint64(off))
		return s.write(ctx, fh, uint64(off), b, nfs3.Unstable)
	})
	if err != nil {
		return err
	}
	return s.commit(ctx, fh)
}
