package nlm

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// oneShotServer answers one NULL call per connection and then closes it,
// as a server dropping idle connections would.
func oneShotServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			rec, err := rpc.ReadRecord(bufio.NewReader(nc), nil, 1<<16)
			if err == nil {
				var h rpc.CallHeader
				if rpc.DecodeCall(xdr.NewReader(rec), &h) == nil {
					w := xdr.NewWriter(nil)
					w.Uint32(0)
					rpc.EncodeAcceptedHeader(w, h.XID, rpc.Success)
					rpc.SetRecordHeader(w.Buf)
					nc.Write(w.Buf)
				}
			}
			nc.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func TestClientReconnects(t *testing.T) {
	c := NewClient(oneShotServer(t), Program, Version4, "t")
	defer c.Close()
	ctx := context.Background()
	if err := c.Call(ctx, ProcNull, Void, Void); err != nil {
		t.Fatalf("first call: %v", err)
	}
	await.Until(t, "the client to see its connection closed", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.conn != nil && c.conn.err != nil
	})
	if err := c.Call(ctx, ProcNull, Void, Void); err != nil {
		t.Fatalf("call after the server closed the connection: %v", err)
	}
}

func TestClientClosed(t *testing.T) {
	c := NewClient(oneShotServer(t), Program, Version4, "t")
	c.Close()
	if err := c.Call(context.Background(), ProcNull, Void, Void); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("call after Close: got %v; want ErrClientClosed", err)
	}
}
