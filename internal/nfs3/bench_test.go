package nfs3

import (
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

func benchDecode(b *testing.B, v codec, buf []byte) {
	b.ReportAllocs()
	r := xdr.NewReader(nil)
	for b.Loop() {
		r.Reset(buf)
		if err := v.Decode(r); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, v codec) {
	b.ReportAllocs()
	w := xdr.NewWriter(nil)
	v.Encode(w)
	b.SetBytes(int64(w.Len()))
	for b.Loop() {
		w.Buf = w.Buf[:0]
		v.Encode(w)
	}
}

func BenchmarkDecodeReadArgs(b *testing.B) {
	benchDecode(b, new(ReadArgs), encode(&ReadArgs{File: fh2, Offset: 1 << 30, Count: 1 << 20}))
}

func BenchmarkEncodeReadRes(b *testing.B) {
	data := make([]byte, 1<<20)
	benchEncode(b, &ReadRes{Status: StatOK, Attr: post, Count: uint32(len(data)), Data: data})
}

func BenchmarkDecodeWriteArgs(b *testing.B) {
	data := make([]byte, 1<<20)
	benchDecode(b, new(WriteArgs), encode(&WriteArgs{File: fh2, Offset: 1 << 30, Count: uint32(len(data)), Stable: Unstable, Data: data}))
}

func BenchmarkEncodeGetattrRes(b *testing.B) {
	benchEncode(b, &GetattrRes{Status: StatOK, Attr: fa})
}

func BenchmarkDecodeLookupArgs(b *testing.B) {
	benchDecode(b, new(LookupArgs), encode(&LookupArgs{What: DirOpArgs{Dir: fh2, Name: "some-file-name.txt"}}))
}

func BenchmarkEncodeReaddirplusRes(b *testing.B) {
	res := &ReaddirplusRes{Status: StatOK, DirAttr: post, CookieVerf: verf, EOF: true}
	for i := range 64 {
		res.Entries = append(res.Entries, DirEntryPlus{
			FileID: uint64(1000 + i), Name: "entry-name-" + string(rune('a'+i%26)), Cookie: uint64(i + 1),
			Attr: post, FH: PostOpFH{Set: true, FH: fh2},
		})
	}
	benchEncode(b, res)
}
