package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
)

const lastFragment = 1 << 31

// ReadRecord reads one record-marked RPC message from r, appending its
// fragments to buf[:0]. A record larger than max is refused with
// ErrRecordTooLarge; see ReadFragments for how the buffer grows. The
// returned slice may be a grown copy of buf.
func ReadRecord(r io.Reader, buf []byte, max int) ([]byte, error) {
	var mark [4]byte
	if _, err := io.ReadFull(r, mark[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("rpc: read fragment header: %w", err)
		}
		return nil, err
	}
	rec, err := ReadFragments(r, &mark, buf[:0], max)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ReadFragments reads the record (RFC 5531 §11 record marking, any number
// of fragments, at most limit bytes) whose first fragment mark has been
// read into mark (which receives the next ones), and appends it to buf.
// The buffer grows with the bytes that arrive, doubling, never with the
// size a mark announces, so it is at most twice what the peer sent (or the
// buffer it started with): a hostile length costs nothing. End of input
// inside a record is io.ErrUnexpectedEOF.
func ReadFragments(r io.Reader, mark *[4]byte, buf []byte, limit int) ([]byte, error) {
	return ReadFragmentsGrow(r, mark, buf, limit, nil)
}

// ReadFragmentsGrow is ReadFragments that asks grow, when it is not nil,
// before each growth of the buffer from capacity old to capacity new. An
// error from grow ends the read with that error (wrapped) and the buffer
// as it was, so a caller can keep a budget of the bytes its partial
// records hold.
func ReadFragmentsGrow(r io.Reader, mark *[4]byte, buf []byte, limit int, grow func(old, new int) error) ([]byte, error) {
	for {
		h := binary.BigEndian.Uint32(mark[:])
		n := int(h &^ lastFragment)
		if len(buf)+n > limit {
			return buf, fmt.Errorf("%w: %d > %d", ErrRecordTooLarge, len(buf)+n, limit)
		}
		for n > 0 {
			if len(buf) == cap(buf) {
				nc := len(buf) + min(n, max(cap(buf), 4096))
				if grow != nil {
					if err := grow(cap(buf), nc); err != nil {
						return buf, fmt.Errorf("rpc: grow record buffer: %w", err)
					}
				}
				nb := make([]byte, len(buf), nc)
				copy(nb, buf)
				buf = nb
			}
			k := min(n, cap(buf)-len(buf))
			start := len(buf)
			buf = buf[:start+k]
			if _, err := io.ReadFull(r, buf[start:]); err != nil {
				return buf, fmt.Errorf("rpc: read fragment: %w", unexpected(err))
			}
			n -= k
		}
		if h&lastFragment != 0 {
			return buf, nil
		}
		if _, err := io.ReadFull(r, mark[:]); err != nil {
			return buf, fmt.Errorf("rpc: read fragment header: %w", unexpected(err))
		}
	}
}

// unexpected turns io.EOF inside a record into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
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
