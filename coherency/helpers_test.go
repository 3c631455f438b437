package coherency

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
)

// fakeClock is a clock tests move by hand.
type fakeClock = clockwork.FakeClock

func newFakeClock() *fakeClock {
	return clockwork.NewFakeClockAt(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
}

// newTest returns a Cache on a fake clock; opts.Clock is overridden.
func newTest(t testing.TB, opts Options) (*Cache, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	opts.Clock = clk
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clk
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// file returns regular-file attributes of version v (size, mtime and
// ctime all derived from v).
func file(fileid uint64, v uint32) nfs3.Fattr3 {
	return nfs3.Fattr3{
		Type: nfs3.TypeReg, Mode: 0o644, Nlink: 1, UID: 1000, GID: 1000,
		Size: uint64(v) * 100, FileID: fileid,
		Mtime: nfs3.Time{Sec: v}, Ctime: nfs3.Time{Sec: v},
	}
}

// dir returns directory attributes of version v.
func dir(fileid uint64, v uint32) nfs3.Fattr3 {
	a := file(fileid, v)
	a.Type, a.Mode, a.Nlink, a.Size = nfs3.TypeDir, 0o755, 2, 4096
	return a
}

// wcc returns WCC data from version before (of a) to after.
func wcc(before, after nfs3.Fattr3) nfs3.WccData {
	return nfs3.WccData{
		Before: nfs3.PreOpAttr{Set: true, Attr: nfs3.WccAttr{Size: before.Size, Mtime: before.Mtime, Ctime: before.Ctime}},
		After:  nfs3.PostOpAttr{Set: true, Attr: after},
	}
}

func fh(s string) []byte { return []byte(s) }

func testCred(uid uint32) rpc.CredKey {
	return rpc.CredKey{Flavor: rpc.AuthSys, UID: uid, GID: uid}
}
