package kernel

import (
	"strings"
	"testing"
)

// The suite's targets (no Server, Export or Setup) must give the same
// params.env as before the benchmark's in-guest targets existed, so that
// init.sh does for CI exactly what it did; the benchmark's targets name
// their mount and setup.
func TestParamsPerTargetMounts(t *testing.T) {
	up := Target{Name: "upstream", NFSPort: 2049, MountPort: 20048}
	tests := []struct {
		name    string
		target  Target
		want    []string
		notWant []string
	}{
		{
			name:    "suite target",
			target:  Target{Name: "proxy", NFSPort: 3049, MountPort: 3049, Mode: "ttl"},
			want:    []string{`KSUITE_OPTS_proxy="port=3049,mountport=3049"`, `KSUITE_TARGETS="proxy"`},
			notWant: []string{"KSUITE_SERVER_", "KSUITE_EXPORT_", "KSUITE_SETUP_", "KSUITE_FAR_OPTS_"},
		},
		{
			name: "knfsd in the guest",
			target: Target{Name: "knfsd", NFSPort: 2049, MountPort: 20048, Mode: "direct",
				Server: "127.0.0.1", Export: "/srv/far", Setup: "knfsd", FarNFSPort: 4049, FarMountPort: 4050},
			want: []string{`KSUITE_SERVER_knfsd="127.0.0.1"`, `KSUITE_EXPORT_knfsd="/srv/far"`,
				`KSUITE_SETUP_knfsd="knfsd"`, `KSUITE_FAR_OPTS_knfsd="port=4049,mountport=4050"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Share{opts: ShareOptions{Upstream: up, Targets: []Target{tc.target}, Export: "/export", Group: "quick"}}
			got := s.params()
			for _, w := range tc.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("params.env lacks %s; got:\n%s", w, got)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("params.env has %s…; want none for a suite target; got:\n%s", nw, got)
				}
			}
		})
	}
}
