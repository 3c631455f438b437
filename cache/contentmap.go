package cache

import "math/bits"

// contentMap says which granules of an object are present and the CRC32C
// of each present granule. It never infers presence from the file (no
// SEEK_HOLE): a granule is present only once its bytes were written and
// synced. verified is in memory only: granules whose CRC was checked (or
// that were written) since the object was opened, so a read of them
// (whole or partial) can skip re-checking the granule. Not safe for
// concurrent use; the owning object's mutex guards it.
type contentMap struct {
	present  []uint64
	verified []uint64
	crcs     []uint32 // one per granule; meaningful only where present
	count    int
}

// granules is how many granules the map can describe.
func (m *contentMap) granules() int64 { return int64(len(m.crcs)) }

// grow makes room for n granules.
func (m *contentMap) grow(n int64) {
	if n <= int64(len(m.crcs)) {
		return
	}
	words := int((n + 63) / 64)
	for len(m.present) < words {
		m.present = append(m.present, 0)
		m.verified = append(m.verified, 0)
	}
	m.crcs = append(m.crcs, make([]uint32, int(n)-len(m.crcs))...)
}

// lookup returns the CRC of granule g and whether it is present and
// verified.
func (m *contentMap) lookup(g int64) (crc uint32, present, verified bool) {
	if g < 0 || g >= int64(len(m.crcs)) {
		return 0, false, false
	}
	bit := uint64(1) << (g & 63)
	w := g >> 6
	if m.present[w]&bit == 0 {
		return 0, false, false
	}
	return m.crcs[g], true, m.verified[w]&bit != 0
}

func (m *contentMap) has(g int64) bool {
	_, ok, _ := m.lookup(g)
	return ok
}

// set marks granule g present with crc; verified says the bytes on disk
// are known to match (just written, or just checked).
func (m *contentMap) set(g int64, crc uint32, verified bool) {
	m.grow(g + 1)
	bit := uint64(1) << (g & 63)
	w := g >> 6
	if m.present[w]&bit == 0 {
		m.count++
	}
	m.present[w] |= bit
	if verified {
		m.verified[w] |= bit
	} else {
		m.verified[w] &^= bit
	}
	m.crcs[g] = crc
}

// setVerified notes that granule g, still with crc, checked out.
func (m *contentMap) setVerified(g int64, crc uint32) {
	if c, ok, _ := m.lookup(g); ok && c == crc {
		m.verified[g>>6] |= uint64(1) << (g & 63)
	}
}

// clear marks granule g absent and reports whether it was present.
func (m *contentMap) clear(g int64) bool {
	if !m.has(g) {
		return false
	}
	bit := uint64(1) << (g & 63)
	m.present[g>>6] &^= bit
	m.verified[g>>6] &^= bit
	m.crcs[g] = 0
	m.count--
	return true
}

// reset empties the map.
func (m *contentMap) reset() { *m = contentMap{} }

// next returns the first present granule >= g, or -1.
func (m *contentMap) next(g int64) int64 {
	if g < 0 {
		g = 0
	}
	for w := g >> 6; w < int64(len(m.present)); w++ {
		word := m.present[w]
		if w == g>>6 {
			word &= ^uint64(0) << (g & 63)
		}
		if word != 0 {
			return w*64 + int64(bits.TrailingZeros64(word))
		}
	}
	return -1
}

// presentBytes is the number of data bytes the present granules hold for
// an object of the given size.
func (m *contentMap) presentBytes(size uint64, shift uint) int64 {
	var total int64
	for g := m.next(0); g >= 0; g = m.next(g + 1) {
		total += int64(granuleLen(size, g, shift))
	}
	return total
}

// granuleLen is the length of granule g of an object of the given size:
// the granule size, less at the end of the object, 0 past it.
func granuleLen(size uint64, g int64, shift uint) int {
	start := uint64(g) << shift
	if start >= size {
		return 0
	}
	return int(min(uint64(1)<<shift, size-start))
}

// granuleCount is how many granules an object of the given size has.
func granuleCount(size uint64, shift uint) int64 {
	return int64((size + (uint64(1) << shift) - 1) >> shift)
}
