package bench

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
)

// The data every Setup writes: each 4 KiB page is a fixed pseudo-random
// page whose first 16 bytes are replaced by a stamp of (file key, offset)
// and its complement. Reads check the stamps, so a page served from the
// wrong file or the wrong offset is caught, at the cost of a compare per page.

// patternPage is the fixed page body.
var patternPage = func() []byte {
	r := rand.New(rand.NewPCG(0x6e667362, 0x656e6368))
	b := make([]byte, pageSize)
	for i := 0; i < pageSize; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}()

// fileKey derives a file's stamp key from its path in the bench directory.
func fileKey(path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return h.Sum64()
}

func stamp(key, off uint64) uint64 { return key*0x9e3779b97f4a7c15 ^ off }

// fill writes the pattern of file key at offset off (page aligned) into b.
func fill(b []byte, key, off uint64) {
	for p := 0; p < len(b); p += pageSize {
		page := b[p:min(p+pageSize, len(b))]
		copy(page, patternPage)
		if len(page) >= 16 {
			st := stamp(key, off+uint64(p))
			binary.BigEndian.PutUint64(page, st)
			binary.BigEndian.PutUint64(page[8:], ^st)
		}
	}
}

// check verifies the stamps of the pages of b, read from offset off (page
// aligned) of file key.
func check(b []byte, key, off uint64) error {
	for p := 0; p+16 <= len(b); p += pageSize {
		st := stamp(key, off+uint64(p))
		if binary.BigEndian.Uint64(b[p:]) != st || binary.BigEndian.Uint64(b[p+8:]) != ^st {
			return fmt.Errorf("%w: page at offset %d does not carry its stamp", ErrVerify, off+uint64(p))
		}
	}
	return nil
}
