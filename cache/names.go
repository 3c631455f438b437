package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"strconv"
	"strings"
)

// MaxHandleLen is the longest upstream file handle the cache stores. Its
// hex name (240 bytes) plus ".rec.tmp" stays under NAME_MAX (255). NFSv3
// handles are at most 64 bytes.
const MaxHandleLen = 120

// maxVolumeName bounds a volume directory name; longer keys are cut and
// suffixed with a hash of the whole key.
const maxVolumeName = 200

// VolumeKey identifies one upstream export: identity only, never tunables,
// so retuning does not empty the cache.
type VolumeKey struct {
	Server string
	Export string
	ID     uint16
}

// String is the printable key, as in cachefiles' "nfs,server,export,id".
// Unusual bytes (including '/', ',' and '%') are %XX-escaped, so the
// result never contains '/' and is never "." or "..".
func (k VolumeKey) String() string {
	var b strings.Builder
	b.WriteString("nfs,")
	escapeName(&b, k.Server)
	b.WriteByte(',')
	escapeName(&b, k.Export)
	b.WriteByte(',')
	b.WriteString(strconv.FormatUint(uint64(k.ID), 10))
	return b.String()
}

// volumeDirName is the directory name of a volume: "I" + key, cut and
// hashed when too long for a file name.
func volumeDirName(k VolumeKey) string {
	name := "I" + k.String()
	if len(name) <= maxVolumeName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxVolumeName-17] + "~" + hex.EncodeToString(sum[:8])
}

func escapeName(b *strings.Builder, s string) {
	const hexdig = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == ':':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// fanoutName is the "@xx" directory a handle lives in: one byte of its
// CRC32C, spreading objects over 256 directories.
func fanoutName(fh []byte) string {
	const hexdig = "0123456789abcdef"
	h := crc32c(fh)
	return string([]byte{'@', hexdig[h>>4&15], hexdig[h&15]})
}

// handleName encodes a handle as a file name: lowercase hex, never
// containing '/' or '.', at most 2*MaxHandleLen bytes.
func handleName(fh []byte) string { return hex.EncodeToString(fh) }

// parseHandleName reverses handleName; ok is false for anything else
// (sidecars, temporaries, strays).
func parseHandleName(name string) (fh []byte, ok bool) {
	if len(name) == 0 || len(name)%2 != 0 || len(name) > 2*MaxHandleLen {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, false
		}
	}
	fh, err := hex.DecodeString(name)
	return fh, err == nil
}

// Suffixes of the names that sit beside a data file.
const (
	sidecarSuffix = ".rec"     // record when xattrs are unavailable or too small
	sidecarTemp   = ".rec.tmp" // sidecar being written
	swapSuffix    = ".new"     // replacement inode during invalidation
)
