package coherency

import (
	"slices"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestAfterChange covers every row of the table in the package doc. The
// cache starts with directory "d" (version 1, with pages listed), file
// "f" (version 1) named d/n, file "g" (version 1) named d/m and a
// negative entry d/absent; each case applies one Change and checks the
// attributes, names, listing and effect the rule promises.
func TestAfterChange(t *testing.T) {
	d1, d2 := dir(10, 1), dir(10, 2)
	f1, f2 := file(1, 1), file(1, 2)
	g1 := file(2, 1)
	chmod := f1 // same size, new ctime: SETATTR of the mode
	chmod.Mode, chmod.Ctime = 0o600, nfs3.Time{Sec: 9}
	noPre := func(a nfs3.Fattr3) nfs3.WccData { return nfs3.WccData{After: nfs3.PostOpAttr{Set: true, Attr: a}} }
	post := func(a nfs3.Fattr3) nfs3.PostOpAttr { return nfs3.PostOpAttr{Set: true, Attr: a} }
	written := f1 // 100 bytes at 100: size 200
	written.Size, written.Mtime, written.Ctime = 200, nfs3.Time{Sec: 5}, nfs3.Time{Sec: 5}
	dirOK := wcc(d1, d2)

	type want struct {
		attrs map[string]*nfs3.Fattr3 // handle -> cached attributes (nil: none)
		names map[string]string       // name in d -> "handle", "-" (negative) or "" (not cached)
		keep  bool
		drop  []string
		// expired: handles whose attributes are cached but not fresh.
		expired []string
		// listed: d's listing page is still served.
		listed bool
	}
	tests := []struct {
		name  string
		write bool // a BeginWrite token for "f" goes with the change
		ch    Change
		want  want
	}{
		{"SETATTR ours, no size", false, Change{Proc: nfs3.ProcSetattr, Obj: fh("f"), ObjWcc: wcc(f1, chmod)},
			want{attrs: map[string]*nfs3.Fattr3{"f": &chmod}, names: map[string]string{"n": "f"}, keep: true, listed: true}},
		{"SETATTR size", false, Change{Proc: nfs3.ProcSetattr, Obj: fh("f"), ObjWcc: wcc(f1, f2), SetSize: true},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f2}, names: map[string]string{"n": "f"}, drop: []string{"f"}, listed: true}},
		{"SETATTR theirs", false, Change{Proc: nfs3.ProcSetattr, Obj: fh("f"), ObjWcc: wcc(f2, chmod)},
			want{attrs: map[string]*nfs3.Fattr3{"f": &chmod}, names: map[string]string{"n": "f"}, drop: []string{"f"}, listed: true}},
		{"SETATTR STALE", false, Change{Proc: nfs3.ProcSetattr, Status: nfs3.StatStale, Obj: fh("f")},
			want{attrs: map[string]*nfs3.Fattr3{"f": nil}, names: map[string]string{"n": ""}, drop: []string{"f"}, listed: true}},
		{"WRITE with pre-op", false, Change{Proc: nfs3.ProcWrite, Obj: fh("f"), ObjWcc: wcc(f1, written), Offset: 100, Count: 100},
			want{attrs: map[string]*nfs3.Fattr3{"f": &written}, names: map[string]string{"n": "f"}, keep: true, listed: true}},
		{"WRITE stand-in", true, Change{Proc: nfs3.ProcWrite, Obj: fh("f"), ObjWcc: noPre(written), Offset: 100, Count: 100},
			want{attrs: map[string]*nfs3.Fattr3{"f": &written}, names: map[string]string{"n": "f"}, keep: true, listed: true}},
		{"WRITE not ours", true, Change{Proc: nfs3.ProcWrite, Obj: fh("f"), ObjWcc: noPre(written), Offset: 100, Count: 50},
			want{attrs: map[string]*nfs3.Fattr3{"f": &written}, expired: []string{"f"}, names: map[string]string{"n": "f"}, drop: []string{"f"}, listed: true}},
		{"WRITE theirs by pre-op", false, Change{Proc: nfs3.ProcWrite, Obj: fh("f"), ObjWcc: wcc(f2, written), Offset: 100, Count: 100},
			want{attrs: map[string]*nfs3.Fattr3{"f": &written}, names: map[string]string{"n": "f"}, keep: true, listed: true}},
		{"WRITE STALE", true, Change{Proc: nfs3.ProcWrite, Status: nfs3.StatStale, Obj: fh("f")},
			want{attrs: map[string]*nfs3.Fattr3{"f": nil}, names: map[string]string{"n": ""}, drop: []string{"f"}, listed: true}},
		{"COMMIT unchanged", false, Change{Proc: nfs3.ProcCommit, Obj: fh("f"), ObjWcc: noPre(f1)},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f1}, names: map[string]string{"n": "f"}, listed: true}},
		{"COMMIT finds a change", false, Change{Proc: nfs3.ProcCommit, Obj: fh("f"), ObjWcc: noPre(f2)},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f2}, names: map[string]string{"n": "f"}, listed: true}},
		{"CREATE", false, Change{Proc: nfs3.ProcCreate, Obj: fh("new"), ObjAttr: post(file(3, 1)), Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"d": &d2, "new": ptr(file(3, 1))}, names: map[string]string{"absent": "new", "n": "f"}}},
		{"CREATE existing, no attributes", false, Change{Proc: nfs3.ProcCreate, Obj: fh("f"), Dir: fh("d"), Name: "n", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"f": nil}, names: map[string]string{"n": "f"}}},
		{"CREATE EXIST", false, Change{Proc: nfs3.ProcCreate, Status: nfs3.StatExist, Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{names: map[string]string{"absent": "", "n": "f"}}},
		{"CREATE STALE", false, Change{Proc: nfs3.ProcCreate, Status: nfs3.StatStale, Dir: fh("d"), Name: "absent"},
			want{attrs: map[string]*nfs3.Fattr3{"d": nil}, drop: []string{"d"}}},
		{"MKDIR", false, Change{Proc: nfs3.ProcMkdir, Obj: fh("sub"), ObjAttr: post(dir(4, 1)), Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"sub": ptr(dir(4, 1))}, names: map[string]string{"absent": "sub"}}},
		{"SYMLINK", false, Change{Proc: nfs3.ProcSymlink, Obj: fh("sl"), ObjAttr: post(file(5, 1)), Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{names: map[string]string{"absent": "sl"}}},
		{"MKNOD", false, Change{Proc: nfs3.ProcMknod, Obj: fh("nod"), ObjAttr: post(file(6, 1)), Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{names: map[string]string{"absent": "nod"}}},
		{"REMOVE", false, Change{Proc: nfs3.ProcRemove, Dir: fh("d"), Name: "n", DirWcc: dirOK, Old: fh("f")},
			want{attrs: map[string]*nfs3.Fattr3{"d": &d2, "f": nil, "g": &g1}, names: map[string]string{"n": "-", "m": "g"}, drop: []string{"f"}}},
		{"REMOVE NOENT", false, Change{Proc: nfs3.ProcRemove, Status: nfs3.StatNoEnt, Dir: fh("d"), Name: "n", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f1}, names: map[string]string{"n": "-"}}},
		{"REMOVE STALE", false, Change{Proc: nfs3.ProcRemove, Status: nfs3.StatStale, Dir: fh("d"), Name: "n"},
			want{attrs: map[string]*nfs3.Fattr3{"d": nil}, drop: []string{"d"}}},
		{"RMDIR", false, Change{Proc: nfs3.ProcRmdir, Dir: fh("d"), Name: "m", DirWcc: dirOK, Old: fh("g")},
			want{attrs: map[string]*nfs3.Fattr3{"g": nil, "f": &f1}, names: map[string]string{"m": "-", "n": "f"}, drop: []string{"g"}}},
		{"RENAME over another file", false, Change{Proc: nfs3.ProcRename, Dir: fh("d"), Name: "n", DirWcc: dirOK,
			ToDir: fh("d"), ToName: "m", ToDirWcc: dirOK, Old: fh("g"), Moved: fh("f")},
			want{attrs: map[string]*nfs3.Fattr3{"d": &d2, "f": nil, "g": nil}, names: map[string]string{"n": "-", "m": ""}, drop: []string{"g"}}},
		{"RENAME between names of one file", false, Change{Proc: nfs3.ProcRename, Dir: fh("d"), Name: "n", DirWcc: dirOK,
			ToDir: fh("d"), ToName: "m", ToDirWcc: dirOK, Old: fh("f"), Moved: fh("f")},
			want{attrs: map[string]*nfs3.Fattr3{"f": nil, "g": &g1}, names: map[string]string{"n": "", "m": ""}}},
		{"RENAME to another directory", false, Change{Proc: nfs3.ProcRename, Dir: fh("d"), Name: "n", DirWcc: dirOK,
			ToDir: fh("e"), ToName: "x", ToDirWcc: wcc(dir(11, 1), dir(11, 2))},
			want{attrs: map[string]*nfs3.Fattr3{"d": &d2, "e": ptr(dir(11, 2)), "f": &f1}, names: map[string]string{"n": "-"}}},
		{"RENAME error", false, Change{Proc: nfs3.ProcRename, Status: nfs3.StatNotEmpty, Dir: fh("d"), Name: "n", DirWcc: dirOK,
			ToDir: fh("d"), ToName: "m", ToDirWcc: dirOK, Old: fh("g"), Moved: fh("f")},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f1, "g": &g1}, names: map[string]string{"n": "", "m": ""}}},
		{"LINK", false, Change{Proc: nfs3.ProcLink, Obj: fh("f"), ObjAttr: post(f2), Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f2}, names: map[string]string{"absent": "f", "n": "f"}}},
		{"LINK without attributes", false, Change{Proc: nfs3.ProcLink, Obj: fh("f"), Dir: fh("d"), Name: "absent", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"f": nil}, names: map[string]string{"absent": "f"}}},
		{"LINK EXIST", false, Change{Proc: nfs3.ProcLink, Status: nfs3.StatExist, Obj: fh("f"), ObjAttr: post(f1), Dir: fh("d"), Name: "m", DirWcc: dirOK},
			want{attrs: map[string]*nfs3.Fattr3{"f": &f1, "g": &g1}, names: map[string]string{"m": ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTest(t, Options{Mode: ModeTTL, AcRegMin: time.Hour, AcRegMax: time.Hour, AcDirMin: time.Hour, AcDirMax: time.Hour})
			c.PutAttr(fh("d"), d1)
			c.PutAttr(fh("e"), dir(11, 1))
			c.PutAttr(fh("f"), f1)
			c.PutAttr(fh("g"), g1)
			c.PutName(fh("d"), "n", fh("f"))
			c.PutName(fh("d"), "m", fh("g"))
			c.PutNegative(fh("d"), "absent")
			args := &nfs3.ReaddirArgs{Dir: fh("d"), Count: 4096}
			c.PutReaddir(fh("d"), args, &nfs3.ReaddirRes{Status: nfs3.StatOK, DirAttr: post(d1), EOF: true})
			ch := tt.ch
			if tt.write {
				tok := c.BeginWrite(fh("f"))
				ch.Write = &tok
			}
			eff := c.AfterChange(&ch)

			if eff.KeepData != tt.want.keep {
				t.Errorf("KeepData = %v; want %v", eff.KeepData, tt.want.keep)
			}
			// The pre-op attributes sent, else f's cached version 1 standing in.
			wantPre := nfs3.WccAttr{Size: f1.Size, Mtime: f1.Mtime, Ctime: f1.Ctime}
			if ch.ObjWcc.Before.Set {
				wantPre = ch.ObjWcc.Before.Attr
			}
			if eff.KeepData && (eff.Pre != wantPre || eff.Post != ch.ObjWcc.After.Attr) {
				t.Errorf("Pre, Post = %+v, %+v; want %+v and the post-op attributes", eff.Pre, eff.Post, wantPre)
			}
			var drop []string
			for _, h := range eff.DropData {
				drop = append(drop, string(h))
			}
			if !slices.Equal(drop, tt.want.drop) {
				t.Errorf("DropData = %q; want %q", drop, tt.want.drop)
			}
			for h, wa := range tt.want.attrs {
				a, fresh, ok := c.peekAttr(fh(h))
				if ok && fresh == slices.Contains(tt.want.expired, h) {
					t.Errorf("%s: attributes fresh %v; want %v", h, fresh, !fresh)
				}
				switch {
				case wa == nil && ok:
					t.Errorf("%s: attributes %+v still cached; want none", h, a)
				case wa != nil && !ok:
					t.Errorf("%s: no attributes cached; want %+v", h, *wa)
				case wa != nil && a != *wa:
					t.Errorf("%s: attributes %+v; want %+v", h, a, *wa)
				}
			}
			for name, wn := range tt.want.names {
				e, ok := c.Lookup(fh("d"), name)
				got := ""
				switch {
				case ok && e.Negative:
					got = "-"
				case ok:
					got = string(e.FH)
				}
				if got != wn {
					t.Errorf("name d/%s: %q; want %q", name, got, wn)
				}
			}
			if _, ok := c.Readdir(fh("d"), args); ok != tt.want.listed {
				t.Errorf("d's listing served: %v; want %v", ok, tt.want.listed)
			}
			if len(c.writes.m) != 0 {
				t.Errorf("%d writes still tracked", len(c.writes.m))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
