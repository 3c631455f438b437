package harness

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// ONC RPC (RFC 5531) and MOUNT v3 (RFC 1813) numbers used by the probes.
const (
	progPortmap = 100000
	progNFS     = 100003
	progMount   = 100005

	mountProcMnt = 1

	authNone = 0
	authSys  = 1

	msgCall  = 0
	msgReply = 1

	lastFragment = 1 << 31
	maxReply     = 1 << 20
)

// rpcTimeout bounds one probe when the context has no earlier deadline.
const rpcTimeout = 5 * time.Second

// acceptStat names RFC 5531 accept_stat values for error messages.
var acceptStat = map[uint32]string{
	1: "PROG_UNAVAIL", 2: "PROG_MISMATCH", 3: "PROC_UNAVAIL", 4: "GARBAGE_ARGS", 5: "SYSTEM_ERR",
}

// PingRPC sends an ONC RPC NULL call (procedure 0, AUTH_NONE) for prog/vers
// to addr ("host:port") over TCP and returns nil once it is accepted.
func PingRPC(ctx context.Context, addr string, prog, vers uint32) error {
	_, err := callRPC(ctx, addr, prog, vers, 0, nil, nil)
	if err != nil {
		return fmt.Errorf("harness: rpc null %d v%d at %s: %w", prog, vers, addr, err)
	}
	return nil
}

// MountRoot calls MOUNT v3 MNT for export at addr ("host:port") as root
// (AUTH_SYS uid 0, gid 0) and returns the root file handle.
func MountRoot(ctx context.Context, addr, export string) ([]byte, error) {
	var args bytes.Buffer
	putOpaque(&args, []byte(export))
	res, err := callRPC(ctx, addr, progMount, 3, mountProcMnt, authSysBody(0, 0), args.Bytes())
	if err != nil {
		return nil, fmt.Errorf("harness: mnt %q at %s: %w", export, addr, err)
	}
	r := bytes.NewReader(res)
	var status uint32
	if err := binary.Read(r, binary.BigEndian, &status); err != nil {
		return nil, fmt.Errorf("harness: mnt %q at %s: short reply: %w", export, addr, err)
	}
	if status != 0 {
		return nil, fmt.Errorf("harness: mnt %q at %s: mountstat3 %d", export, addr, status)
	}
	fh, err := getOpaque(r)
	if err != nil {
		return nil, fmt.Errorf("harness: mnt %q at %s: bad handle: %w", export, addr, err)
	}
	return fh, nil
}

// authSysBody encodes an authsys_parms with no supplementary groups.
func authSysBody(uid, gid uint32) []byte {
	var b bytes.Buffer
	put32(&b, 0) // stamp
	putOpaque(&b, []byte("harness"))
	put32(&b, uid)
	put32(&b, gid)
	put32(&b, 0) // gids<16>
	return b.Bytes()
}

// callRPC makes one call on a fresh TCP connection and returns the
// procedure's result bytes. A nil sysCred means AUTH_NONE.
func callRPC(ctx context.Context, addr string, prog, vers, proc uint32, sysCred, args []byte) ([]byte, error) {
	return callRPCNet(ctx, "tcp", addr, prog, vers, proc, sysCred, args)
}

// callRPCNet is callRPC over network ("tcp" or "unix").
func callRPCNet(ctx context.Context, network, addr string, prog, vers, proc uint32, sysCred, args []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	xid := rand.Uint32()
	var call bytes.Buffer
	put32(&call, 0) // record mark, patched below
	for _, v := range []uint32{xid, msgCall, 2, prog, vers, proc} {
		put32(&call, v)
	}
	if sysCred != nil {
		put32(&call, authSys)
		putOpaque(&call, sysCred)
	} else {
		put32(&call, authNone)
		put32(&call, 0)
	}
	put32(&call, authNone) // verifier
	put32(&call, 0)
	call.Write(args)
	msg := call.Bytes()
	binary.BigEndian.PutUint32(msg, lastFragment|uint32(len(msg)-4))
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}

	reply, err := readRecord(conn)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	return parseReply(reply, xid)
}

// readRecord reads one record-marked message (RFC 5531 section 11).
func readRecord(r io.Reader) ([]byte, error) {
	var rec []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		mark := binary.BigEndian.Uint32(hdr[:])
		n := int(mark &^ lastFragment)
		if len(rec)+n > maxReply {
			return nil, fmt.Errorf("reply larger than %d bytes", maxReply)
		}
		frag := make([]byte, n)
		if _, err := io.ReadFull(r, frag); err != nil {
			return nil, err
		}
		rec = append(rec, frag...)
		if mark&lastFragment != 0 {
			return rec, nil
		}
	}
}

// parseReply checks an rpc_msg reply and returns the bytes after accept_stat.
func parseReply(b []byte, xid uint32) ([]byte, error) {
	r := bytes.NewReader(b)
	var hdr [3]uint32 // xid, mtype, reply_stat
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("short reply: %w", err)
	}
	switch {
	case hdr[0] != xid:
		return nil, fmt.Errorf("reply xid %#x; want %#x", hdr[0], xid)
	case hdr[1] != msgReply:
		return nil, fmt.Errorf("message type %d; want reply", hdr[1])
	case hdr[2] != 0:
		return nil, errors.New("call denied (MSG_DENIED)")
	}
	var flavor uint32
	if err := binary.Read(r, binary.BigEndian, &flavor); err != nil {
		return nil, fmt.Errorf("short reply: %w", err)
	}
	if _, err := getOpaque(r); err != nil { // verifier body
		return nil, fmt.Errorf("bad verifier: %w", err)
	}
	var stat uint32
	if err := binary.Read(r, binary.BigEndian, &stat); err != nil {
		return nil, fmt.Errorf("short reply: %w", err)
	}
	if stat != 0 {
		name := acceptStat[stat]
		if name == "" {
			name = fmt.Sprintf("accept_stat %d", stat)
		}
		return nil, errors.New(name)
	}
	return b[len(b)-r.Len():], nil
}

func put32(b *bytes.Buffer, v uint32) {
	b.Write(binary.BigEndian.AppendUint32(nil, v))
}

func putOpaque(b *bytes.Buffer, p []byte) {
	put32(b, uint32(len(p)))
	b.Write(p)
	b.Write(make([]byte, (4-len(p)%4)%4))
}

func getOpaque(r *bytes.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	padded := int64(n) + int64((4-n%4)%4)
	if padded > int64(r.Len()) {
		return nil, fmt.Errorf("opaque of %d bytes overruns reply", n)
	}
	p := make([]byte, padded)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	return p[:n], nil
}
