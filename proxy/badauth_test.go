package proxy

import (
	"errors"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// TestUnreadableCredentialAnswered: a credential longer than RFC 5531's 400
// bytes (claimed 0x7fffffff, 401 or 100000 bytes, or AUTH_SYS with 5,000
// gids) and a verifier that cannot be read are answered with AUTH_ERROR
// (AUTH_BADCRED, AUTH_BADVERF) on the same connection, which then keeps
// serving. They used to get no reply at all, leaving the client waiting.
func TestUnreadableCredentialAnswered(t *testing.T) {
	_, addr, _ := startDemoProxy(t)
	call := func(xid uint32, auth func(w *xdr.Writer)) []byte {
		w := xdr.NewWriter(nil)
		w.Uint32(xid)
		w.Uint32(rpc.Call)
		w.Uint32(rpc.RPCVersion)
		w.Uint32(nfs3.Program)
		w.Uint32(3)
		w.Uint32(nfs3.ProcNull)
		auth(w)
		return w.Bytes()
	}
	manyGids := func(w *xdr.Writer) {
		body := xdr.NewWriter(nil)
		body.Uint32(0)
		body.String("m")
		body.Uint32(1000)
		body.Uint32(1000)
		body.Uint32(5000)
		for i := range 5000 {
			body.Uint32(uint32(i))
		}
		w.Uint32(rpc.AuthSys)
		w.Opaque(body.Bytes())
		w.Uint32(rpc.AuthNone)
		w.Uint32(0)
	}
	tests := []struct {
		name string
		auth func(w *xdr.Writer)
		want uint32 // auth_stat
	}{
		{"cred length 0x7fffffff", func(w *xdr.Writer) { w.Uint32(rpc.AuthSys); w.Uint32(0x7fffffff) }, rpc.AuthBadCred},
		{"cred length 401", func(w *xdr.Writer) { w.Uint32(rpc.AuthSys); w.Uint32(401); w.Fixed(make([]byte, 404)) }, rpc.AuthBadCred},
		{"cred length 100000", func(w *xdr.Writer) { w.Uint32(rpc.AuthSys); w.Uint32(100000); w.Fixed(make([]byte, 100000)) }, rpc.AuthBadCred},
		{"AUTH_SYS with 5000 gids", manyGids, rpc.AuthBadCred},
		{"verifier length 0x7fffffff", func(w *xdr.Writer) {
			w.Uint32(rpc.AuthNone)
			w.Uint32(0)
			w.Uint32(rpc.AuthNone)
			w.Uint32(0x7fffffff)
		}, rpc.AuthBadVerf},
	}
	c := dialRaw(t, addr)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xid := uint32(500 + i)
			c.sendRecord(call(xid, tt.auth))
			got, _, err := replyHead(t, c.readReply())
			var re *rpc.ReplyError
			if got != xid || !errors.As(err, &re) || !re.Denied || re.AuthStat != tt.want {
				t.Fatalf("reply xid %d, %v; want xid %d denied with auth_stat %d", got, err, xid, tt.want)
			}
			// The connection goes on serving.
			c.sendRecord(callBody(xid+100, nfs3.Program, 3, nfs3.ProcNull, &testCred, nil))
			if _, _, err := replyHead(t, c.readReply()); err != nil {
				t.Fatalf("NULL after the rejected call: %v", err)
			}
		})
	}
}
