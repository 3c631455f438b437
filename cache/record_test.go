package cache

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleRecord(granules []int64) record {
	r := record{seq: 7, ino: 12345, shift: 18, coh: Coherency{FileID: 9, Size: 100 << 20, Mtime: Time{Sec: 1, Nsec: 2}, Ctime: Time{Sec: 3, Nsec: 4}}}
	for _, g := range granules {
		r.cmap.set(g, uint32(g*2654435761), false)
	}
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		granules []int64
	}{
		{"empty", nil},
		{"first", []int64{0}},
		{"sparse", []int64{1, 7, 8, 63, 64, 65, 399}},
		{"dense", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleRecord(tc.granules)
			b := r.appendTo(nil, "the-handle")
			got, fh, err := decodeRecord(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if string(fh) != "the-handle" {
				t.Fatalf("handle = %q; want %q", fh, "the-handle")
			}
			if got.seq != r.seq || got.ino != r.ino || got.shift != r.shift || got.coh != r.coh {
				t.Fatalf("header = %+v; want %+v", got, r)
			}
			var gotG []int64
			for g := got.cmap.next(0); g >= 0; g = got.cmap.next(g + 1) {
				gotG = append(gotG, g)
				if c, _, _ := got.cmap.lookup(g); c != uint32(g*2654435761) {
					t.Fatalf("granule %d crc = %#x; want %#x", g, c, uint32(g*2654435761))
				}
			}
			if !reflect.DeepEqual(gotG, tc.granules) {
				t.Fatalf("granules = %v; want %v", gotG, tc.granules)
			}
		})
	}
}

func TestRecordRejects(t *testing.T) {
	r := sampleRecord([]int64{1, 2})
	good := r.appendTo(nil, "fh")
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrRecordCorrupt},
		{"short", good[:40], ErrRecordCorrupt},
		{"magic", append([]byte("XXXX"), good[4:]...), ErrRecordCorrupt},
		{"version", func() []byte { b := append([]byte(nil), good...); b[4] = 9; return b }(), ErrRecordVersion},
		{"crc", func() []byte { b := append([]byte(nil), good...); b[50] ^= 1; return b }(), ErrRecordCorrupt},
		{"trailing byte", append(append([]byte(nil), good...), 0), ErrRecordCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeRecord(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("decode = %v; want %v", err, tc.want)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r0, r1 := sampleRecord(nil), sampleRecord([]int64{0, 3, 64})
	f.Add(r0.appendTo(nil, "x"))
	f.Add(r1.appendTo(nil, "handle"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, fh, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if again := r.appendTo(nil, string(fh)); string(again) != string(b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}

func TestNames(t *testing.T) {
	tests := []struct {
		key  VolumeKey
		want string
	}{
		{VolumeKey{"srv", "/export", 1}, "nfs,srv,%2Fexport,1"},
		{VolumeKey{"10.0.0.1", "/a,b/c%d", 65535}, "nfs,10.0.0.1,%2Fa%2Cb%2Fc%25d,65535"},
		{VolumeKey{"", "..", 0}, "nfs,,..,0"},
	}
	for _, tc := range tests {
		if got := tc.key.String(); got != tc.want {
			t.Errorf("%+v.String() = %q; want %q", tc.key, got, tc.want)
		}
	}
	long := volumeDirName(VolumeKey{Server: strings.Repeat("s", 300), Export: "/x"})
	if len(long) > maxVolumeName || strings.Contains(long, "/") {
		t.Errorf("long volume name %q: %d bytes; want <= %d, no '/'", long, len(long), maxVolumeName)
	}
	for _, fh := range [][]byte{{0}, {0x2f, 0x2e}, make([]byte, 64), make([]byte, MaxHandleLen)} {
		name := handleName(fh)
		back, ok := parseHandleName(name)
		if !ok || string(back) != string(fh) || len(name)+len(sidecarTemp) > 255 ||
			strings.ContainsAny(name, "/.") {
			t.Errorf("handle %x: name %q parses to %x, %v", fh, name, back, ok)
		}
		if fo := fanoutName(fh); len(fo) != 3 || fo[0] != '@' {
			t.Errorf("handle %x: fan-out %q; want @xx", fh, fo)
		}
	}
	for _, bad := range []string{"", "abc", "ABCD", "ab.rec", "..", strings.Repeat("00", MaxHandleLen+1)} {
		if _, ok := parseHandleName(bad); ok {
			t.Errorf("parseHandleName(%q) ok; want refused", bad)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{"no dir", Options{}, "Dir"},
		{"granule not power of two", Options{Dir: "x", GranuleSize: 5000}, "GranuleSize"},
		{"granule too small", Options{Dir: "x", GranuleSize: 2048}, "GranuleSize"},
		{"negative cap", Options{Dir: "x", MaxBytes: -1}, "MaxBytes"},
		{"block limits out of order", Options{Dir: "x", BRun: 5, BCull: 7, BStop: 3}, "BRun"},
		{"file limits out of order", Options{Dir: "x", FRun: 10, FCull: 7, FStop: 7}, "FRun"},
		{"readahead too far", Options{Dir: "x", Readahead: 1000}, "Readahead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.setDefaults()
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v; want an error naming %s", err, tc.field)
			}
		})
	}
	ok := Options{Dir: "x"}
	ok.setDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: Validate() = %v; want nil", err)
	}
}
