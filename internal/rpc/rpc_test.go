package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

func frame(last bool, body []byte) []byte {
	h := uint32(len(body))
	if last {
		h |= lastFragment
	}
	return append(binary.BigEndian.AppendUint32(nil, h), body...)
}

func TestReadRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"one fragment", frame(true, []byte("abcd")), 100, []byte("abcd"), nil},
		{"three fragments", append(append(frame(false, []byte("ab")), frame(false, []byte("cd"))...), frame(true, []byte("ef"))...), 100, []byte("abcdef"), nil},
		{"empty last fragment", append(frame(false, []byte("ab")), frame(true, nil)...), 100, []byte("ab"), nil},
		{"over limit in one", frame(true, make([]byte, 101)), 100, nil, ErrRecordTooLarge},
		{"over limit across fragments", append(frame(false, make([]byte, 60)), frame(true, make([]byte, 60))...), 100, nil, ErrRecordTooLarge},
		{"huge claimed length", binary.BigEndian.AppendUint32(nil, lastFragment|0x7fffffff), 1 << 20, nil, ErrRecordTooLarge},
		{"truncated body", frame(true, []byte("abcd"))[:6], 100, nil, io.ErrUnexpectedEOF},
		{"truncated header", []byte{0x80, 0}, 100, nil, io.ErrUnexpectedEOF},
		{"eof between fragments", frame(false, []byte("ab")), 100, nil, io.ErrUnexpectedEOF},
		{"clean eof", nil, 100, nil, io.EOF},
	}
	readers := []struct {
		name string
		read func(r io.Reader, max int) ([]byte, error)
	}{
		{"ReadRecord", func(r io.Reader, max int) ([]byte, error) { return ReadRecord(r, nil, max) }},
		{"ReadRecordSized", func(r io.Reader, max int) ([]byte, error) { return ReadRecordSized(r, max, 3) }},
		{"ReadRecordSized/large", func(r io.Reader, max int) ([]byte, error) { return ReadRecordSized(r, max, 1<<20) }},
	}
	for _, rd := range readers {
		for _, tt := range tests {
			t.Run(rd.name+"/"+tt.name, func(t *testing.T) {
				got, err := rd.read(bytes.NewReader(tt.in), tt.max)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("got err %v; want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	}
}

// TestReadRecordSizedAllocatesOnce: a one-fragment record within prealloc
// is read into one buffer of its size; ReadRecord grows one from 4 KiB by
// doubling.
func TestReadRecordSizedAllocatesOnce(t *testing.T) {
	in := frame(true, bytes.Repeat([]byte{7}, 256<<10+120)) // a 256 KiB READ reply
	r := bytes.NewReader(in)
	var rec []byte
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(in)
		var err error
		if rec, err = ReadRecordSized(r, 8<<20, 1<<20+4096); err != nil {
			t.Fatal(err)
		}
	})
	// Two: the record's buffer and the 4-byte mark (it escapes into the
	// io.Reader).
	if allocs != 2 || len(rec) != 256<<10+120 || cap(rec) != len(rec) {
		t.Errorf("ReadRecordSized: %v allocations, len %d cap %d; want 2, %d, %d", allocs, len(rec), cap(rec), 256<<10+120, 256<<10+120)
	}
	grown := testing.AllocsPerRun(20, func() {
		r.Reset(in)
		if _, err := ReadRecord(r, nil, 8<<20); err != nil {
			t.Fatal(err)
		}
	})
	if grown <= allocs+4 {
		t.Errorf("ReadRecord: %v allocations; the comparison assumes it grows its buffer", grown)
	}
}

func TestCallRoundTrip(t *testing.T) {
	cred := Cred{Flavor: AuthSys, Stamp: 7, Machine: "host", UID: 1000, GID: 100, NGids: 3, Gids: [MaxGroups]uint32{1, 2, 3}}
	w := xdr.NewWriter(nil)
	EncodeCall(w, 0x1234, 100003, 3, 6, &cred)
	w.Uint32(0xfeed)
	r := xdr.NewReader(w.Bytes())
	var h CallHeader
	if err := DecodeCall(r, &h); err != nil {
		t.Fatal(err)
	}
	if h.XID != 0x1234 || h.RPCVers != 2 || h.Prog != 100003 || h.Vers != 3 || h.Proc != 6 || h.CredErr != nil {
		t.Fatalf("got %+v; want xid 0x1234 prog 100003 v3 proc 6", h)
	}
	if h.Cred.Key() != cred.Key() || h.Cred.Machine != "host" || h.Cred.Stamp != 7 {
		t.Fatalf("cred %+v; want %+v", h.Cred, cred)
	}
	if got := r.Uint32(); got != 0xfeed {
		t.Fatalf("args start at %#x; want 0xfeed", got)
	}
	if !h.Cred.InGroup(2) || h.Cred.InGroup(4) || !h.Cred.InGroup(100) {
		t.Fatal("InGroup wrong")
	}
}

func TestDecodeAuthSysRejects(t *testing.T) {
	enc := func(f func(w *xdr.Writer)) []byte { w := xdr.NewWriter(nil); f(w); return w.Bytes() }
	tests := []struct {
		name string
		body []byte
	}{
		{"17 groups", enc(func(w *xdr.Writer) {
			w.Uint32(0)
			w.String("m")
			w.Uint32(0)
			w.Uint32(0)
			w.Uint32(17)
			for i := 0; i < 17; i++ {
				w.Uint32(1)
			}
		})},
		{"machine name too long", enc(func(w *xdr.Writer) {
			w.Uint32(0)
			w.String(string(make([]byte, 256)))
			w.Uint32(0)
			w.Uint32(0)
			w.Uint32(0)
		})},
		{"truncated", enc(func(w *xdr.Writer) { w.Uint32(0); w.String("m"); w.Uint32(0) })},
		{"trailing bytes", enc(func(w *xdr.Writer) {
			w.Uint32(0)
			w.String("m")
			w.Uint32(0)
			w.Uint32(0)
			w.Uint32(0)
			w.Uint32(9)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeAuthSys(tt.body); !errors.Is(err, ErrBadCred) {
				t.Fatalf("got %v; want ErrBadCred", err)
			}
		})
	}
}

func TestReplyHeaders(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *xdr.Writer)
		want  *ReplyError
	}{
		{"success", func(w *xdr.Writer) { EncodeAcceptedHeader(w, 5, Success) }, nil},
		{"prog mismatch", func(w *xdr.Writer) { EncodeAcceptedHeader(w, 5, ProgMismatch); w.Uint32(3); w.Uint32(3) }, &ReplyError{AcceptStat: ProgMismatch, Low: 3, High: 3}},
		{"garbage", func(w *xdr.Writer) { EncodeAcceptedHeader(w, 5, GarbageArgs) }, &ReplyError{AcceptStat: GarbageArgs}},
		{"rpc mismatch", func(w *xdr.Writer) { EncodeRPCMismatch(w, 5) }, &ReplyError{Denied: true, RejectStat: RPCMismatch, Low: 2, High: 2}},
		{"auth error", func(w *xdr.Writer) { EncodeAuthError(w, 5, AuthTooWeak) }, &ReplyError{Denied: true, RejectStat: AuthError, AuthStat: AuthTooWeak}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := xdr.NewWriter(nil)
			tt.write(w)
			xid, err := DecodeReply(xdr.NewReader(w.Bytes()))
			if xid != 5 {
				t.Fatalf("xid %d; want 5", xid)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v; want success", err)
				}
				return
			}
			var re *ReplyError
			if !errors.As(err, &re) || *re != *tt.want {
				t.Fatalf("got %v; want %+v", err, *tt.want)
			}
		})
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(frame(true, []byte("abcd")))
	f.Add(append(frame(false, []byte("ab")), frame(true, []byte("cd"))...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		rec, err := ReadRecord(bytes.NewReader(in), nil, 1024)
		if err == nil && len(rec) > 1024 {
			t.Fatalf("record of %d bytes over the 1024 limit", len(rec))
		}
		// ReadRecordSized reads the same records, refuses the same input.
		sized, serr := ReadRecordSized(bytes.NewReader(in), 1024, 300)
		if (err == nil) != (serr == nil) || !bytes.Equal(rec, sized) {
			t.Fatalf("ReadRecord %q, %v; ReadRecordSized %q, %v", rec, err, sized, serr)
		}
	})
}

func FuzzDecodeCall(f *testing.F) {
	w := xdr.NewWriter(nil)
	EncodeCall(w, 1, 100003, 3, 1, &Cred{Flavor: AuthSys, Machine: "m", NGids: 2})
	f.Add(w.Bytes())
	w = xdr.NewWriter(nil)
	EncodeCall(w, 1, 100005, 3, 1, &Cred{Flavor: AuthNone})
	f.Add(w.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		var h CallHeader
		if DecodeCall(xdr.NewReader(in), &h) != nil || h.CredErr != nil || h.Cred.Flavor != AuthSys {
			return
		}
		if h.Cred.NGids > MaxGroups {
			t.Fatalf("%d groups accepted", h.Cred.NGids)
		}
		// A credential that decoded re-encodes to one that decodes the same.
		w := xdr.NewWriter(nil)
		EncodeCall(w, h.XID, h.Prog, h.Vers, h.Proc, &h.Cred)
		var h2 CallHeader
		if err := DecodeCall(xdr.NewReader(w.Bytes()), &h2); err != nil || h2.Cred.Key() != h.Cred.Key() || h2.Cred.Machine != h.Cred.Machine {
			t.Fatalf("re-decoded %+v, %v; want %+v", h2.Cred, err, h.Cred)
		}
	})
}

func FuzzDecodeAuthSys(f *testing.F) {
	w := xdr.NewWriter(nil)
	EncodeCred(w, &Cred{Flavor: AuthSys, Machine: "m", UID: 1, GID: 2, NGids: 1, Gids: [MaxGroups]uint32{3}})
	f.Add(w.Bytes()[8:])
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeAuthSys(body)
		if err == nil && (c.NGids > MaxGroups || len(c.Machine) > MaxMachineName) {
			t.Fatalf("accepted %+v", c)
		}
	})
}
