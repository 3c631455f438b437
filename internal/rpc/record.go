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
	if err := readMark(r, &mark); err != nil {
		return nil, err
	}
	rec, err := ReadFragments(r, &mark, buf[:0], max)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ReadRecordSized is ReadRecord into a new buffer sized by the first
// fragment's mark, up to prealloc bytes: a record of one fragment of at
// most prealloc bytes is read with one allocation and no copy, where
// ReadRecord would grow its buffer from 4 KiB by doubling (six
// allocations and as many bytes copied again for a 256 KiB READ reply).
// It is for peers the process chose to trust with prealloc bytes for a
// mark alone (the upstream, whose READ replies are the cold path's
// bytes); for clients, ReadRecord keeps a hostile mark costing nothing.
func ReadRecordSized(r io.Reader, max, prealloc int) ([]byte, error) {
	var mark [4]byte
	if err := readMark(r, &mark); err != nil {
		return nil, err
	}
	var buf []byte
	if n := int(binary.BigEndian.Uint32(mark[:]) &^ lastFragment); n <= max {
		buf = make([]byte, 0, min(n, prealloc))
	}
	rec, err := ReadFragments(r, &mark, buf, max)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// readMark reads the first fragment mark of a record: io.EOF at a clean
// end of input, a wrapped io.ErrUnexpectedEOF inside the mark.
func readMark(r io.Reader, mark *[4]byte) error {
	if _, err := io.ReadFull(r, mark[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("rpc: read fragment header: %w", err)
		}
		return err
	}
	return nil
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
