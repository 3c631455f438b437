package cache

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"

	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"golang.org/x/sys/unix"
)

// Time is an NFSv3 nfstime3.
type Time = version.Time

// Coherency is what the upstream says about an object's version: cached
// data is valid while it is the record's (version.Same, the one rule).
type Coherency = version.Version

const (
	recordXattr   = "user.nfscacheproxy"
	recordMagic   = "NCPR"
	recordVersion = 1
	recordHeader  = 64
	// xattrMax is the largest record put in the xattr; bigger ones go to
	// the sidecar (ext4 without ea_inode holds about one block).
	xattrMax = 3584
	// sidecarMax bounds a sidecar read: a record for 2^24 granules.
	sidecarMax = recordHeader + MaxHandleLen + 1<<21 + 4<<24 + 4
)

// record is an object's metadata, stored in the user.nfscacheproxy xattr
// or, where that is missing or too small, in the sidecar <name>.rec.
//
// Layout (little endian), then the handle, the map bitmap (bit g of byte
// g/8), one CRC32C per present granule in granule order, and a CRC32C of
// everything before it:
//
//	0 magic "NCPR"   4 version   5 granule shift   6 reserved[1]  7 handle length
//	8 seq  16 inode  24 fileid  32 size  40 mtime s,ns  48 ctime s,ns
//	56 granules in map  60 present granules
//
// seq grows with every write of the record, so when both an xattr and a
// sidecar survive a crash the newer wins. inode binds a sidecar to the
// data file it describes: a sidecar left behind by an invalidated inode
// never describes its replacement.
type record struct {
	seq   uint64
	ino   uint64
	shift uint8
	coh   Coherency
	cmap  contentMap
}

func (r *record) appendTo(dst []byte, fh string) []byte {
	m := &r.cmap
	ng := m.granules()
	// Trim trailing absent granules so the map never outgrows the size.
	for ng > 0 && !m.has(ng-1) {
		ng--
	}
	start := len(dst)
	var h [recordHeader]byte
	copy(h[0:4], recordMagic)
	h[4] = recordVersion
	h[5] = r.shift
	h[7] = byte(len(fh))
	le := binary.LittleEndian
	le.PutUint64(h[8:], r.seq)
	le.PutUint64(h[16:], r.ino)
	le.PutUint64(h[24:], r.coh.FileID)
	le.PutUint64(h[32:], r.coh.Size)
	le.PutUint32(h[40:], r.coh.Mtime.Sec)
	le.PutUint32(h[44:], r.coh.Mtime.Nsec)
	le.PutUint32(h[48:], r.coh.Ctime.Sec)
	le.PutUint32(h[52:], r.coh.Ctime.Nsec)
	le.PutUint32(h[56:], uint32(ng))
	le.PutUint32(h[60:], uint32(m.count))
	dst = append(dst, h[:]...)
	dst = append(dst, fh...)
	for i := int64(0); i < (ng+7)/8; i++ {
		w := m.present[i/8]
		dst = append(dst, byte(w>>(8*(i%8))))
	}
	for g := m.next(0); g >= 0 && g < ng; g = m.next(g + 1) {
		dst = le.AppendUint32(dst, m.crcs[g])
	}
	return le.AppendUint32(dst, crc32c(dst[start:]))
}

// decodeRecord parses and fully validates an encoded record.
func decodeRecord(b []byte) (r record, fh []byte, err error) {
	le := binary.LittleEndian
	if len(b) < recordHeader+4 || string(b[0:4]) != recordMagic {
		return r, nil, ErrRecordCorrupt
	}
	if b[4] != recordVersion {
		return r, nil, fmt.Errorf("%w: %d", ErrRecordVersion, b[4])
	}
	body := b[:len(b)-4]
	if crc32c(body) != le.Uint32(b[len(b)-4:]) {
		return r, nil, ErrRecordCorrupt
	}
	r.shift = b[5]
	hlen := int(b[7])
	r.seq = le.Uint64(b[8:])
	r.ino = le.Uint64(b[16:])
	r.coh = Coherency{
		FileID: le.Uint64(b[24:]),
		Size:   le.Uint64(b[32:]),
		Mtime:  Time{Sec: le.Uint32(b[40:]), Nsec: le.Uint32(b[44:])},
		Ctime:  Time{Sec: le.Uint32(b[48:]), Nsec: le.Uint32(b[52:])},
	}
	ng := int64(le.Uint32(b[56:]))
	np := int64(le.Uint32(b[60:]))
	if r.shift < 12 || r.shift > 30 || b[6] != 0 || hlen == 0 || hlen > MaxHandleLen ||
		ng > granuleCount(r.coh.Size, uint(r.shift)) || np > ng {
		return r, nil, ErrRecordCorrupt
	}
	mapLen := (ng + 7) / 8
	if int64(len(body)) != recordHeader+int64(hlen)+mapLen+4*np {
		return r, nil, ErrRecordCorrupt
	}
	fh = append([]byte(nil), body[recordHeader:recordHeader+hlen]...)
	bitmap := body[recordHeader+hlen : recordHeader+int64(hlen)+mapLen]
	crcs := body[recordHeader+int64(hlen)+mapLen:]
	var seen int64
	for _, c := range bitmap {
		seen += int64(bits.OnesCount8(c))
	}
	// Canonical only: the map ends at its last present granule.
	if seen != np || (ng%8 != 0 && bitmap[mapLen-1]>>(ng%8) != 0) ||
		(ng > 0 && bitmap[(ng-1)/8]&(1<<((ng-1)%8)) == 0) {
		return r, nil, ErrRecordCorrupt
	}
	r.cmap.grow(ng)
	k := 0
	for g := int64(0); g < ng; g++ {
		if bitmap[g/8]&(1<<(g%8)) != 0 {
			r.cmap.set(g, le.Uint32(crcs[4*k:]), false)
			k++
		}
	}
	return r, fh, nil
}

// loadRecord finds the record of the data file f at path: the xattr
// (unless noXattr) and the sidecar; of those that decode, name fh and
// f's inode, the one with the higher seq wins. hasSidecar reports a
// sidecar file, usable or not, so the next write can remove it. With no
// usable record err is ErrNoRecord or why the candidates were refused.
func loadRecord(fsys FS, f File, path string, fh []byte, noXattr bool, buf []byte) (best record, hasSidecar bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return best, false, err
	}
	found := false
	err = ErrNoRecord
	consider := func(b []byte) {
		r, rfh, derr := decodeRecord(b)
		switch {
		case derr != nil:
			err = derr
		case string(rfh) != string(fh) || r.ino != st.Ino:
			err = ErrRecordMismatch
		case !found || r.seq > best.seq:
			best, found = r, true
		}
	}
	if !noXattr {
		n, xerr := f.GetXattr(recordXattr, buf)
		switch {
		case xerr == nil:
			consider(buf[:n])
		case errors.Is(xerr, unix.ENODATA), isXattrUnsupported(xerr):
		case errors.Is(xerr, unix.ERANGE):
			err = ErrRecordCorrupt // we never store one this big
		default:
			return best, false, xerr
		}
	}
	side, serr := readSidecar(fsys, path+sidecarSuffix)
	switch {
	case serr == nil:
		hasSidecar = true
		consider(side)
	case isNotExist(serr):
	default:
		return best, false, serr
	}
	if found {
		return best, hasSidecar, nil
	}
	return best, hasSidecar, err
}

func readSidecar(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size > sidecarMax {
		return nil, ErrRecordCorrupt
	}
	b := make([]byte, st.Size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// writeRecord stores the encoded record b for the data file f at path:
// in the xattr when allowed and small enough (then a stale sidecar is
// removed), else in the sidecar, written to a temporary, synced and
// renamed into place. noXattr reports that the filesystem refused user
// xattrs altogether.
func writeRecord(fsys FS, f File, path string, b []byte, useXattr, hadSidecar bool) (inSidecar, noXattr bool, err error) {
	if useXattr && len(b) <= xattrMax {
		xerr := f.SetXattr(recordXattr, b)
		switch {
		case xerr == nil:
			if hadSidecar {
				if rerr := fsys.Remove(path + sidecarSuffix); rerr != nil && !isNotExist(rerr) {
					return true, false, rerr
				}
			}
			return false, false, nil
		case isXattrUnsupported(xerr):
			noXattr = true
		case isXattrTooBig(xerr):
		default:
			return hadSidecar, false, xerr
		}
	}
	tmp := path + sidecarTemp
	t, err := fsys.OpenFile(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return hadSidecar, noXattr, err
	}
	_, err = t.WriteAt(b, 0)
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path+sidecarSuffix)
	}
	if err != nil {
		fsys.Remove(tmp)
		return hadSidecar, noXattr, err
	}
	return true, noXattr, nil
}
