package rpc

import (
	"errors"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestDecodeCallUnreadableAuth: a call whose credential or verifier cannot
// be read (longer than 400 bytes, or cut short) is still answerable: the
// header decodes, with CredErr (AUTH_BADCRED) or VerfUnreadable
// (AUTH_BADVERF), so the server replies instead of leaving the client
// hanging on an open connection.
func TestDecodeCallUnreadableAuth(t *testing.T) {
	head := func(w *xdr.Writer) {
		w.Uint32(77)         // xid
		w.Uint32(Call)       // msg type
		w.Uint32(RPCVersion) // rpcvers
		w.Uint32(100003)
		w.Uint32(3)
		w.Uint32(1)
	}
	tests := []struct {
		name     string
		build    func(w *xdr.Writer)
		wantCred bool // CredErr set
		wantVerf bool // VerfUnreadable
	}{
		{"cred length 0x7fffffff", func(w *xdr.Writer) { w.Uint32(AuthSys); w.Uint32(0x7fffffff) }, true, false},
		{"cred length 401", func(w *xdr.Writer) { w.Uint32(AuthSys); w.Uint32(401); w.Fixed(make([]byte, 404)) }, true, false},
		{"cred length 100000", func(w *xdr.Writer) { w.Uint32(AuthSys); w.Uint32(100000); w.Fixed(make([]byte, 100000)) }, true, false},
		{"AUTH_SYS with 5000 gids", func(w *xdr.Writer) {
			var body xdr.Writer
			body.Uint32(0)
			body.String("m")
			body.Uint32(1000)
			body.Uint32(1000)
			body.Uint32(5000)
			for i := range 5000 {
				body.Uint32(uint32(i))
			}
			w.Uint32(AuthSys)
			w.Opaque(body.Bytes())
			w.Uint32(AuthNone)
			w.Uint32(0)
		}, true, false},
		{"cred cut short", func(w *xdr.Writer) { w.Uint32(AuthSys); w.Uint32(40); w.Uint32(1) }, true, false},
		{"verifier length 0x7fffffff", func(w *xdr.Writer) {
			w.Uint32(AuthNone)
			w.Uint32(0)
			w.Uint32(AuthNone)
			w.Uint32(0x7fffffff)
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w xdr.Writer
			head(&w)
			tt.build(&w)
			var h CallHeader
			if err := DecodeCall(xdr.NewReader(w.Bytes()), &h); err != nil {
				t.Fatalf("DecodeCall: %v; want the header decoded so the call can be answered", err)
			}
			if h.XID != 77 {
				t.Fatalf("xid %d; want 77", h.XID)
			}
			if got := errors.Is(h.CredErr, ErrBadCred); got != tt.wantCred {
				t.Fatalf("CredErr = %v; want bad credential %v", h.CredErr, tt.wantCred)
			}
			if got := h.VerfFlav == VerfUnreadable; got != tt.wantVerf {
				t.Fatalf("VerfFlav = %#x; want unreadable %v", h.VerfFlav, tt.wantVerf)
			}
		})
	}
}
