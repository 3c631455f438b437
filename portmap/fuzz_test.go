package portmap

import (
	"net/netip"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// FuzzDispatch feeds arbitrary messages to the call decoder and every
// procedure: no panic, and every reply has a well-formed header.
func FuzzDispatch(f *testing.F) {
	for v := uint32(1); v <= 5; v++ {
		for p := uint32(0); p <= 13; p++ {
			msg, _ := callMsg(v, p, nil)
			f.Add(msg)
			msg, _ = callMsg(v, p, mapping(ProgNFS, 3, ProtTCP, 0))
			f.Add(msg)
			msg, _ = callMsg(v, p, rpcbArgs(ProgNFS, 3, "tcp", "", ""))
			f.Add(msg)
		}
	}
	s, err := New(testMappings())
	if err != nil {
		f.Fatal(err)
	}
	local := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, udp := range []bool{false, true} {
			w := xdr.NewWriter(nil)
			if !s.dispatch(msg, query{local: local, udp: udp}, w) {
				if w.Len() != 0 {
					t.Fatalf("no reply, but %d bytes written", w.Len())
				}
				continue
			}
			r := xdr.NewReader(w.Bytes())
			if _, err := rpc.DecodeReply(r); err != nil {
				if _, ok := err.(*rpc.ReplyError); !ok {
					t.Fatalf("reply does not decode: %v", err)
				}
			}
		}
	})
}
