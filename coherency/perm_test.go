package coherency

import (
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// TestPermits is the table of the permission-on-hit rule: (caller after
// squashing, mode, owner) → may the cache answer without the upstream.
func TestPermits(t *testing.T) {
	const owner, group = 1000, 100
	const nobody = 65534 // what root_squash / all_squash make of a caller
	tests := []struct {
		name   string
		mode   uint32
		uid    uint32
		gid    uint32
		groups []uint32
		bits   uint32
		want   bool
	}{
		{"owner may read", 0o400, owner, 5, nil, PermRead, true},
		{"owner bits rule even if group and other allow", 0o044, owner, group, nil, PermRead, false},
		{"group may read", 0o040, 2000, group, nil, PermRead, true},
		{"group bits rule even if other allows", 0o404, 2000, group, nil, PermRead, false},
		{"supplementary group may read", 0o040, 2000, 5, []uint32{7, group}, PermRead, true},
		{"supplementary group may not", 0o004, 2000, 5, []uint32{group}, PermRead, false},
		{"other may read", 0o004, 2000, 5, []uint32{6}, PermRead, true},
		{"other may not", 0o440, 2000, 5, []uint32{6}, PermRead, false},
		{"execute needs x", 0o644, owner, group, nil, PermExec, false},
		{"search a directory", 0o711, 2000, 5, nil, PermExec, true},
		{"read and execute need both", 0o500 | 0o004, 2000, 5, nil, PermRead | PermExec, false},
		{"write and execute only", 0o333, owner, group, nil, PermRead, false},
		{"root, mode 777: the upstream may squash it", 0o777, 0, 0, nil, PermRead, false},
		{"root owning the file: still asked upstream", 0o700, 0, 0, nil, PermRead, false},
		{"squashed root (nobody), other bits allow", 0o004, nobody, nobody, nil, PermRead, true},
		{"squashed root (nobody), other bits deny", 0o440, nobody, nobody, nil, PermRead, false},
		{"all_squash user mapped to nobody, owner's bits do not apply", 0o600, nobody, nobody, []uint32{group}, PermRead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &nfs3.Fattr3{Type: nfs3.TypeReg, Mode: tt.mode, UID: owner, GID: group}
			cred := &rpc.Cred{Flavor: rpc.AuthSys, UID: tt.uid, GID: tt.gid, NGids: len(tt.groups)}
			copy(cred.Gids[:], tt.groups)
			if got := Permits(a, cred, tt.bits); got != tt.want {
				t.Errorf("Permits(mode %#o owner %d:%d; caller %d:%d %v; bits %o) = %v; want %v",
					tt.mode, owner, group, tt.uid, tt.gid, tt.groups, tt.bits, got, tt.want)
			}
		})
	}
}
