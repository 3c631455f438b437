package coherency

import (
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

func TestMayRead(t *testing.T) {
	tests := []struct {
		name   string
		mode   uint32
		uid    uint32
		gid    uint32
		groups []uint32
		want   bool
	}{
		{"owner may", 0o400, 1000, 5, nil, true},
		{"owner may not", 0o044, 1000, 100, nil, false}, // owner bits rule even if group/other allow
		{"group may", 0o040, 2000, 100, nil, true},
		{"group may not", 0o404, 2000, 100, nil, false},
		{"supplementary group may", 0o040, 2000, 5, []uint32{7, 100}, true},
		{"supplementary group may not", 0o004, 2000, 5, []uint32{100}, false},
		{"other may", 0o004, 2000, 5, []uint32{6}, true},
		{"other may not", 0o440, 2000, 5, []uint32{6}, false},
		{"root, mode 000", 0o000, 0, 0, nil, true},
		{"write and execute only", 0o333, 1000, 100, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &nfs3.Fattr3{Type: nfs3.TypeReg, Mode: tt.mode, UID: 1000, GID: 100}
			if got := MayRead(a, tt.uid, tt.gid, tt.groups); got != tt.want {
				t.Errorf("MayRead(mode %#o, uid %d, gid %d, groups %v) = %v; want %v", tt.mode, tt.uid, tt.gid, tt.groups, got, tt.want)
			}
		})
	}
}
