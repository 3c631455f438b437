package nlm

import (
	"fmt"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Program numbers and the NLM v4 procedures (XNFS chapter 10 and 14; the
// Linux client and lockd are the practical reference).
const (
	Program    = 100021
	Version4   = 4
	ProgramNSM = 100024
	VersionNSM = 1

	ProcNSMNull  = 0
	ProcSMNotify = 6 // SM_NOTIFY: stat_chge {mon_name, state}

	ProcNull       = 0
	ProcTest       = 1
	ProcLock       = 2
	ProcCancel     = 3
	ProcUnlock     = 4
	ProcGranted    = 5
	ProcTestMsg    = 6
	ProcLockMsg    = 7
	ProcCancelMsg  = 8
	ProcUnlockMsg  = 9
	ProcGrantedMsg = 10
	ProcTestRes    = 11
	ProcLockRes    = 12
	ProcCancelRes  = 13
	ProcUnlockRes  = 14
	ProcGrantedRes = 15
	ProcShare      = 20
	ProcUnshare    = 21
	ProcNMLock     = 22
	ProcFreeAll    = 23
)

// Stat is nlm4_stats.
type Stat uint32

// nlm4_stats values.
const (
	Granted           Stat = 0
	Denied            Stat = 1
	DeniedNoLocks     Stat = 2
	Blocked           Stat = 3
	DeniedGracePeriod Stat = 4
	Deadlock          Stat = 5
	ROFS              Stat = 6
	StaleFH           Stat = 7
	FBig              Stat = 8
	Failed            Stat = 9
)

var statNames = [...]string{"granted", "denied", "denied_nolocks", "blocked", "denied_grace_period", "deadlck", "rofs", "stale_fh", "fbig", "failed"}

func (s Stat) String() string {
	if int(s) < len(statNames) {
		return statNames[s]
	}
	return fmt.Sprintf("nlm4_stat(%d)", uint32(s))
}

// Wire limits: LM_MAXSTRLEN for caller names, MAXNETOBJ_SZ for netobjs.
const (
	MaxStr    = 1024
	MaxNetobj = 1024
)

// Lock is nlm4_lock.
type Lock struct {
	CallerName string
	FH         []byte // netobj: the NFS file handle
	OH         []byte // netobj: the owner handle
	Svid       int32  // the process id of the owner on the client
	Offset     uint64
	Len        uint64 // 0 = to the end of the file
}

func (l *Lock) encode(w *xdr.Writer) {
	w.String(l.CallerName)
	w.Opaque(l.FH)
	w.Opaque(l.OH)
	w.Int32(l.Svid)
	w.Uint64(l.Offset)
	w.Uint64(l.Len)
}

func (l *Lock) decode(r *xdr.Reader) {
	l.CallerName = r.String(MaxStr)
	l.FH = r.Opaque(MaxNetobj)
	l.OH = r.Opaque(MaxNetobj)
	l.Svid = r.Int32()
	l.Offset = r.Uint64()
	l.Len = r.Uint64()
}

// TestArgs is nlm4_testargs (TEST, TEST_MSG).
type TestArgs struct {
	Cookie    []byte
	Exclusive bool
	Lock      Lock
}

func (a *TestArgs) Encode(w *xdr.Writer) {
	w.Opaque(a.Cookie)
	w.Bool(a.Exclusive)
	a.Lock.encode(w)
}

func (a *TestArgs) Decode(r *xdr.Reader) error {
	a.Cookie = r.Opaque(MaxNetobj)
	a.Exclusive = r.Bool()
	a.Lock.decode(r)
	return r.Err()
}

// LockArgs is nlm4_lockargs (LOCK, LOCK_MSG).
type LockArgs struct {
	Cookie    []byte
	Block     bool
	Exclusive bool
	Lock      Lock
	Reclaim   bool
	State     int32 // the client's NSM state number
}

func (a *LockArgs) Encode(w *xdr.Writer) {
	w.Opaque(a.Cookie)
	w.Bool(a.Block)
	w.Bool(a.Exclusive)
	a.Lock.encode(w)
	w.Bool(a.Reclaim)
	w.Int32(a.State)
}

func (a *LockArgs) Decode(r *xdr.Reader) error {
	a.Cookie = r.Opaque(MaxNetobj)
	a.Block = r.Bool()
	a.Exclusive = r.Bool()
	a.Lock.decode(r)
	a.Reclaim = r.Bool()
	a.State = r.Int32()
	return r.Err()
}

// CancArgs is nlm4_cancargs (CANCEL, CANCEL_MSG).
type CancArgs struct {
	Cookie    []byte
	Block     bool
	Exclusive bool
	Lock      Lock
}

func (a *CancArgs) Encode(w *xdr.Writer) {
	w.Opaque(a.Cookie)
	w.Bool(a.Block)
	w.Bool(a.Exclusive)
	a.Lock.encode(w)
}

func (a *CancArgs) Decode(r *xdr.Reader) error {
	a.Cookie = r.Opaque(MaxNetobj)
	a.Block = r.Bool()
	a.Exclusive = r.Bool()
	a.Lock.decode(r)
	return r.Err()
}

// UnlockArgs is nlm4_unlockargs (UNLOCK, UNLOCK_MSG).
type UnlockArgs struct {
	Cookie []byte
	Lock   Lock
}

func (a *UnlockArgs) Encode(w *xdr.Writer) {
	w.Opaque(a.Cookie)
	a.Lock.encode(w)
}

func (a *UnlockArgs) Decode(r *xdr.Reader) error {
	a.Cookie = r.Opaque(MaxNetobj)
	a.Lock.decode(r)
	return r.Err()
}

// Res is nlm4_res: the reply of LOCK, CANCEL, UNLOCK, GRANTED and the
// argument of their _RES procedures.
type Res struct {
	Cookie []byte
	Stat   Stat
}

func (a *Res) Encode(w *xdr.Writer) {
	w.Opaque(a.Cookie)
	w.Uint32(uint32(a.Stat))
}

func (a *Res) Decode(r *xdr.Reader) error {
	a.Cookie = r.Opaque(MaxNetobj)
	a.Stat = Stat(r.Uint32())
	return r.Err()
}

// Holder is nlm4_holder: who holds a conflicting lock.
type Holder struct {
	Exclusive bool
	Svid      int32
	OH        []byte
	Offset    uint64
	Len       uint64
}

// TestRes is nlm4_testres: Holder is set when Stat is Denied.
type TestRes struct {
	Cookie []byte
	Stat   Stat
	Holder Holder
}

func (a *TestRes) Encode(w *xdr.Writer) {
	w.Opaque(a.Cookie)
	w.Uint32(uint32(a.Stat))
	if a.Stat == Denied {
		w.Bool(a.Holder.Exclusive)
		w.Int32(a.Holder.Svid)
		w.Opaque(a.Holder.OH)
		w.Uint64(a.Holder.Offset)
		w.Uint64(a.Holder.Len)
	}
}

func (a *TestRes) Decode(r *xdr.Reader) error {
	a.Cookie = r.Opaque(MaxNetobj)
	a.Stat = Stat(r.Uint32())
	if a.Stat == Denied {
		a.Holder.Exclusive = r.Bool()
		a.Holder.Svid = r.Int32()
		a.Holder.OH = r.Opaque(MaxNetobj)
		a.Holder.Offset = r.Uint64()
		a.Holder.Len = r.Uint64()
	}
	return r.Err()
}

// NotifyArgs is nlm4_notify (FREE_ALL): a host whose locks are all freed.
type NotifyArgs struct {
	Name  string
	State int32
}

func (a *NotifyArgs) Encode(w *xdr.Writer) {
	w.String(a.Name)
	w.Int32(a.State)
}

func (a *NotifyArgs) Decode(r *xdr.Reader) error {
	a.Name = r.String(MaxStr)
	a.State = r.Int32()
	return r.Err()
}

// void is an empty argument or result.
type void struct{}

func (void) Encode(*xdr.Writer)         {}
func (void) Decode(r *xdr.Reader) error { return r.Err() }

// Void encodes and decodes nothing.
var Void void

var (
	_ xdr.Encoder = (*LockArgs)(nil)
	_ xdr.Decoder = (*LockArgs)(nil)
	_ xdr.Encoder = (*TestRes)(nil)
	_ xdr.Decoder = (*TestRes)(nil)
)
