package proxy

import (
	"bytes"
	"testing"
)

func TestHandleRoundTrip(t *testing.T) {
	ufh := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	h := appendHandle(nil, 0x1234, ufh)
	if again := appendHandle(nil, 0x1234, ufh); !bytes.Equal(h, again) {
		t.Fatalf("handles differ for the same object: %x vs %x", h, again)
	}
	id, got, ok := splitHandle(h)
	if !ok || id != 0x1234 || !bytes.Equal(got, ufh) {
		t.Fatalf("splitHandle(%x) = %d, %x, %v; want 0x1234, %x, true", h, id, got, ok, ufh)
	}
}

func TestSplitHandleRejects(t *testing.T) {
	long := appendHandle(nil, 1, make([]byte, MaxUpstreamHandle+1))
	tests := []struct {
		name string
		fh   []byte
	}{
		{"empty", nil},
		{"header only", []byte{handleVersion, 0, 0, 1}},
		{"truncated header", []byte{handleVersion, 0}},
		{"unknown version", []byte{9, 0, 0, 1, 0xaa}},
		{"unknown flags", []byte{handleVersion, 1, 0, 1, 0xaa}},
		{"over 64 bytes", long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, ok := splitHandle(tt.fh); ok {
				t.Fatalf("splitHandle(%x) ok; want rejected", tt.fh)
			}
		})
	}
}

func FuzzSplitHandle(f *testing.F) {
	f.Add(appendHandle(nil, 1, []byte{1, 2, 3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, fh []byte) {
		id, ufh, ok := splitHandle(fh)
		if !ok {
			return
		}
		if again := appendHandle(nil, id, ufh); !bytes.Equal(again, fh) {
			t.Fatalf("re-encoded %x; want %x", again, fh)
		}
	})
}

func BenchmarkHandleWrapSplit(b *testing.B) {
	v := &volume{Volume: Volume{ID: 3}}
	ufh := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		fh, _ := v.wrap(ufh)
		if _, _, ok := splitHandle(fh); !ok {
			b.Fatal("split failed")
		}
	}
}
