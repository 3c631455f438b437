package nfs3

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// seed adds every round-trip case of the given types to f, tagged with
// its index in types.
func seed(f *testing.F, types []func() codec, cases []rtCase) {
	for _, c := range cases {
		for i, mk := range types {
			if reflect.TypeOf(mk()) == reflect.TypeOf(c.v) {
				f.Add(uint32(i), encode(c.v))
			}
		}
	}
}

// checkCanonical decodes data as the type chosen by sel. If that succeeds,
// re-encoding must give as many bytes as were consumed, decoding those must
// give the same value, and encoding that must give the same bytes.
func checkCanonical(t *testing.T, types []func() codec, sel uint32, data []byte) {
	mk := types[sel%uint32(len(types))]
	v := mk()
	r := xdr.NewReader(data)
	err := v.Decode(r)
	if err != r.Err() {
		t.Fatalf("Decode returned %v but Reader holds %v; want the same", err, r.Err())
	}
	if err != nil {
		return
	}
	b1 := encode(v)
	if len(b1) != r.Offset() {
		t.Fatalf("re-encoding of %T is %d bytes; want the %d consumed", v, len(b1), r.Offset())
	}
	v2 := mk()
	if err := v2.Decode(xdr.NewReader(b1)); err != nil {
		t.Fatalf("decoding re-encoded %T: got %v; want nil", v, err)
	}
	if !reflect.DeepEqual(v, v2) {
		t.Fatalf("re-decoded %T: got %+v; want %+v", v, v2, v)
	}
	if b2 := encode(v2); !bytes.Equal(b1, b2) {
		t.Fatalf("second encoding of %T: got %x; want %x", v, b2, b1)
	}
}

// FuzzDecodeArgs drives every NFSv3 and MOUNT argument decoder.
func FuzzDecodeArgs(f *testing.F) {
	seed(f, argsTypes, argsCases)
	f.Fuzz(func(t *testing.T, sel uint32, data []byte) {
		checkCanonical(t, argsTypes, sel, data)
	})
}

// FuzzDecodeRes drives every NFSv3 and MOUNT result decoder.
func FuzzDecodeRes(f *testing.F) {
	seed(f, resTypes, resCases)
	f.Fuzz(func(t *testing.T, sel uint32, data []byte) {
		checkCanonical(t, resTypes, sel, data)
	})
}
