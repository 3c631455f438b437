package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
)

const lastFragment = 1 << 31

// ReadRecord reads one record-marked RPC message from r, appending its
// fragments to buf[:0]. A record larger than max is refused with
// ErrRecordTooLarge before its bytes are read into memory. The returned slice
// may be a grown copy of buf.
func ReadRecord(r io.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.ErrUnexpectedEOF || (err == io.EOF && len(buf) > 0) {
				return nil, fmt.Errorf("rpc: read fragment header: %w", io.ErrUnexpectedEOF)
			}
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ lastFragment)
		if len(buf)+n > max {
			return nil, fmt.Errorf("%w: %d > %d", ErrRecordTooLarge, len(buf)+n, max)
		}
		start := len(buf)
		if cap(buf)-start < n {
			nb := make([]byte, start, start+n)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:start+n]
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("rpc: read fragment: %w", err)
		}
		if h&lastFragment != 0 {
			return buf, nil
		}
	}
}

// RecordHeaderSize is the space a caller reserves at the front of a buffer
// for SetRecordHeader.
const RecordHeaderSize = 4

// SetRecordHeader writes the single-fragment record mark for msg into the
// first four bytes of msg, which the caller reserved; the record body is
// msg[4:].
func SetRecordHeader(msg []byte) {
	binary.BigEndian.PutUint32(msg, lastFragment|uint32(len(msg)-RecordHeaderSize))
}
