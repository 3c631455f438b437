package xdr

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter(nil)
	w.Uint32(1)
	w.Int32(-2)
	w.Uint64(1 << 40)
	w.Bool(true)
	w.Opaque([]byte{1, 2, 3})
	w.String("hello")
	w.Fixed([]byte{9, 9})
	if w.Len()%4 != 0 {
		t.Fatalf("length %d not a multiple of 4", w.Len())
	}
	r := NewReader(w.Bytes())
	if v := r.Uint32(); v != 1 {
		t.Fatalf("got %d; want 1", v)
	}
	if v := r.Int32(); v != -2 {
		t.Fatalf("got %d; want -2", v)
	}
	if v := r.Uint64(); v != 1<<40 {
		t.Fatalf("got %d; want 1<<40", v)
	}
	if !r.Bool() {
		t.Fatal("got false; want true")
	}
	if b := r.Opaque(3); !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("got %v; want 1 2 3", b)
	}
	if s := r.String(5); s != "hello" {
		t.Fatalf("got %q; want hello", s)
	}
	if b := r.Fixed(2); !bytes.Equal(b, []byte{9, 9}) {
		t.Fatalf("got %v; want 9 9", b)
	}
	if r.Err() != nil || r.Remaining() != 0 {
		t.Fatalf("err %v remaining %d; want nil 0", r.Err(), r.Remaining())
	}
}

func TestErrorsAreSticky(t *testing.T) {
	w := NewWriter(nil)
	w.Opaque(make([]byte, 10))
	r := NewReader(w.Bytes())
	if r.Opaque(9) != nil || !errors.Is(r.Err(), ErrTooLong) {
		t.Fatalf("err %v; want ErrTooLong", r.Err())
	}
	if r.Uint32() != 0 || !errors.Is(r.Err(), ErrTooLong) {
		t.Fatal("a read after an error must return zero and keep the first error")
	}
	r = NewReader([]byte{0, 0, 0, 2})
	r.Bool()
	if !errors.Is(r.Err(), ErrBool) {
		t.Fatalf("bool 2: err %v; want ErrBool", r.Err())
	}
	r = NewReader([]byte{0xff, 0xff, 0xff, 0xff})
	if r.Opaque(1<<30) != nil || !errors.Is(r.Err(), ErrTooLong) {
		t.Fatalf("4 GiB opaque: err %v; want ErrTooLong before any allocation", r.Err())
	}
	r = NewReader([]byte{0, 0, 0, 8, 1, 2})
	if r.Opaque(100) != nil || !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("short opaque: err %v; want ErrShort", r.Err())
	}
}
