package version

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSame(t *testing.T) {
	base := Version{FileID: 7, Size: 100, Mtime: Time{Sec: 10, Nsec: 1}, Ctime: Time{Sec: 10, Nsec: 2}}
	tests := []struct {
		name string
		edit func(*Version)
		same bool
	}{
		{"identical", func(*Version) {}, true},
		{"other file", func(v *Version) { v.FileID++ }, false},
		{"grown", func(v *Version) { v.Size++ }, false},
		{"shrunk", func(v *Version) { v.Size-- }, false},
		{"mtime later", func(v *Version) { v.Mtime.Nsec++ }, false},
		{"mtime earlier", func(v *Version) { v.Mtime.Sec-- }, false},
		{"ctime later", func(v *Version) { v.Ctime.Sec++ }, false},
		{"ctime earlier", func(v *Version) { v.Ctime.Nsec-- }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			tt.edit(&b)
			if got := Same(base, b); got != tt.same {
				t.Errorf("Same: got %v; want %v", got, tt.same)
			}
		})
	}
}

func TestOfAndPre(t *testing.T) {
	a := nfs3.Fattr3{FileID: 3, Size: 9, Mtime: nfs3.Time{Sec: 1}, Ctime: nfs3.Time{Sec: 2}, Type: nfs3.TypeReg, Mode: 0o644}
	w := nfs3.WccAttr{Size: 9, Mtime: nfs3.Time{Sec: 1}, Ctime: nfs3.Time{Sec: 2}}
	if got, want := Pre(a.FileID, &w), Of(&a); !Same(got, want) {
		t.Errorf("Pre: got %+v; want %+v", got, want)
	}
	a.Mode, a.Nlink = 0o600, 2 // not part of the version
	if !Same(Of(&a), Pre(3, &w)) {
		t.Error("mode and nlink changed the version; want only fileid, size, mtime, ctime to count")
	}
}

func TestWritten(t *testing.T) {
	before := Version{FileID: 1, Size: 100, Mtime: Time{Sec: 5}, Ctime: Time{Sec: 5}}
	tests := []struct {
		name  string
		after Version
		off   uint64
		count uint32
		want  bool
	}{
		{"overwrite inside", Version{FileID: 1, Size: 100, Mtime: Time{Sec: 6}, Ctime: Time{Sec: 6}}, 0, 10, true},
		{"append", Version{FileID: 1, Size: 110, Mtime: Time{Sec: 6}, Ctime: Time{Sec: 6}}, 100, 10, true},
		{"same times", Version{FileID: 1, Size: 100, Mtime: Time{Sec: 5}, Ctime: Time{Sec: 5}}, 0, 10, true},
		{"size not the write's", Version{FileID: 1, Size: 120, Mtime: Time{Sec: 6}, Ctime: Time{Sec: 6}}, 100, 10, false},
		{"other file", Version{FileID: 2, Size: 100, Mtime: Time{Sec: 6}, Ctime: Time{Sec: 6}}, 0, 10, false},
		{"mtime went back", Version{FileID: 1, Size: 100, Mtime: Time{Sec: 4}, Ctime: Time{Sec: 6}}, 0, 10, false},
		{"ctime went back", Version{FileID: 1, Size: 100, Mtime: Time{Sec: 6}, Ctime: Time{Sec: 4}}, 0, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Written(before, tt.after, tt.off, tt.count); got != tt.want {
				t.Errorf("Written: got %v; want %v", got, tt.want)
			}
		})
	}
}

func TestExtends(t *testing.T) {
	pre := Version{FileID: 1, Size: 100}
	for _, tt := range []struct {
		post Version
		want bool
	}{
		{Version{FileID: 1, Size: 100}, true},
		{Version{FileID: 1, Size: 200}, true},
		{Version{FileID: 1, Size: 50}, false},
		{Version{FileID: 2, Size: 100}, false},
	} {
		if got := Extends(pre, tt.post); got != tt.want {
			t.Errorf("Extends(%+v, %+v): got %v; want %v", pre, tt.post, got, tt.want)
		}
	}
}
