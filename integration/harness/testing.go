package harness

import "testing"

// StartGaneshaT starts ganesha for a test or benchmark and stops it in
// t.Cleanup. Directories left empty in opts become t.TempDir()s (the export
// one chmod 0777). Any failure, including a missing Debian package, fails the
// test: integration tests never skip for lack of their dependencies.
func StartGaneshaT(t testing.TB, opts GaneshaOptions) *Ganesha {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
		if err := chmodExport(opts.Dir); err != nil {
			t.Fatal(err)
		}
	}
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	g, err := StartGanesha(t.Context(), opts)
	if err != nil {
		t.Fatalf("start ganesha: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("stop ganesha: %v", err)
		}
	})
	return g
}
