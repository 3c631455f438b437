package xdr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sentinel decode errors.
var (
	ErrShort   = errors.New("xdr: message too short")
	ErrTooLong = errors.New("xdr: length over limit")
	ErrBool    = errors.New("xdr: bool neither 0 nor 1")
	ErrEnum    = errors.New("xdr: enum value out of range")
)

// Reader decodes XDR from a byte slice.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Reset makes r read b from the start, clearing any error.
func (r *Reader) Reset(b []byte) { r.buf, r.off, r.err = b, 0, nil }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// SetErr records err unless an earlier error is already recorded.
func (r *Reader) SetErr(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Remaining returns the number of undecoded bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Offset returns how many bytes have been consumed.
func (r *Reader) Offset() int { return r.off }

// Rest returns the undecoded bytes (aliasing the buffer) and consumes them.
func (r *Reader) Rest() []byte {
	b := r.buf[r.off:]
	r.off = len(r.buf)
	return b
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf)-r.off < n {
		r.err = ErrShort
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Uint32 decodes an unsigned int.
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int32 decodes a signed int.
func (r *Reader) Int32() int32 { return int32(r.Uint32()) }

// Uint64 decodes an unsigned hyper.
func (r *Reader) Uint64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Int64 decodes a signed hyper.
func (r *Reader) Int64() int64 { return int64(r.Uint64()) }

// Bool decodes a bool; anything but 0 or 1 is an error.
func (r *Reader) Bool() bool {
	v := r.Uint32()
	if v > 1 {
		r.SetErr(ErrBool)
		return false
	}
	return v == 1
}

// Enum decodes an enum and checks it is at most max.
func (r *Reader) Enum(max uint32) uint32 {
	v := r.Uint32()
	if v > max {
		r.SetErr(fmt.Errorf("%w: %d > %d", ErrEnum, v, max))
		return 0
	}
	return v
}

func pad(n int) int { return (4 - n&3) & 3 }

// Fixed decodes a fixed-length opaque of n bytes (plus padding). The result
// aliases the buffer.
func (r *Reader) Fixed(n int) []byte {
	b := r.take(n + pad(n))
	if b == nil {
		return nil
	}
	return b[:n:n]
}

// Opaque decodes a variable-length opaque of at most max bytes. The result
// aliases the buffer; it is non-nil (possibly empty) on success.
func (r *Reader) Opaque(max int) []byte {
	n := r.Uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		r.err = fmt.Errorf("%w: %d > %d", ErrTooLong, n, max)
		return nil
	}
	return r.Fixed(int(n))
}

// String decodes a string of at most max bytes.
func (r *Reader) String(max int) string { return string(r.Opaque(max)) }

// Writer appends XDR to a byte slice.
type Writer struct {
	Buf []byte
}

// NewWriter returns a Writer appending to buf (which may be nil).
func NewWriter(buf []byte) *Writer { return &Writer{Buf: buf} }

// Bytes returns the encoded bytes.
func (w *Writer) Bytes() []byte { return w.Buf }

// Len returns the encoded length.
func (w *Writer) Len() int { return len(w.Buf) }

// Uint32 encodes an unsigned int.
func (w *Writer) Uint32(v uint32) { w.Buf = binary.BigEndian.AppendUint32(w.Buf, v) }

// Int32 encodes a signed int.
func (w *Writer) Int32(v int32) { w.Uint32(uint32(v)) }

// Uint64 encodes an unsigned hyper.
func (w *Writer) Uint64(v uint64) { w.Buf = binary.BigEndian.AppendUint64(w.Buf, v) }

// Int64 encodes a signed hyper.
func (w *Writer) Int64(v int64) { w.Uint64(uint64(v)) }

// Bool encodes a bool.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint32(1)
	} else {
		w.Uint32(0)
	}
}

var zeros [4]byte

// Fixed encodes a fixed-length opaque (b plus padding).
func (w *Writer) Fixed(b []byte) {
	w.Buf = append(w.Buf, b...)
	w.Buf = append(w.Buf, zeros[:pad(len(b))]...)
}

// Opaque encodes a variable-length opaque.
func (w *Writer) Opaque(b []byte) {
	w.Uint32(uint32(len(b)))
	w.Fixed(b)
}

// String encodes a string.
func (w *Writer) String(s string) {
	w.Uint32(uint32(len(s)))
	w.Buf = append(w.Buf, s...)
	w.Buf = append(w.Buf, zeros[:pad(len(s))]...)
}

// Encoder is a value that writes itself as XDR.
type Encoder interface{ Encode(w *Writer) }

// Decoder is a value that reads itself from XDR, returning r.Err().
type Decoder interface{ Decode(r *Reader) error }
