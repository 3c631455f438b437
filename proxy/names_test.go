package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		use     nameUse
		why     reason
		status  nfs3.Stat
		garbage bool
	}{
		{"a", useLookup, reasonNone, nfs3.StatOK, false},
		{"a", useCreate, reasonNone, nfs3.StatOK, false},
		{".hidden", useRemove, reasonNone, nfs3.StatOK, false},
		{"...", useRename, reasonNone, nfs3.StatOK, false},
		{strings.Repeat("n", 255), useCreate, reasonNone, nfs3.StatOK, false},
		{strings.Repeat("n", 256), useLookup, reasonNameTooLong, nfs3.StatNameTooLong, false},
		{strings.Repeat("n", 256), useCreate, reasonNameTooLong, nfs3.StatNameTooLong, false},
		{"", useLookup, reasonNameEmpty, 0, true},
		{"", useRename, reasonNameEmpty, 0, true},
		{"a/b", useLookup, reasonNameSlash, 0, true},
		{"../../etc", useLookup, reasonNameSlash, 0, true},
		{"/", useCreate, reasonNameSlash, 0, true},
		{"evil\x00tail", useCreate, reasonNameNUL, 0, true},
		{"\x00", useLookup, reasonNameNUL, 0, true},
		{strings.Repeat("n", 300) + "/", useLookup, reasonNameSlash, 0, true},
		{".", useLookup, reasonNone, nfs3.StatOK, false},
		{"..", useLookup, reasonNone, nfs3.StatOK, false},
		{".", useCreate, reasonNameDot, nfs3.StatExist, false},
		{"..", useCreate, reasonNameDot, nfs3.StatExist, false},
		{".", useRemove, reasonNameDot, nfs3.StatAcces, false},
		{"..", useRemove, reasonNameDot, nfs3.StatAcces, false},
		{".", useRename, reasonNameDot, nfs3.StatPerm, false},
		{"..", useRename, reasonNameDot, nfs3.StatPerm, false},
	}
	for _, tt := range tests {
		got := checkName(tt.name, tt.use)
		if got.why != tt.why || got.status != tt.status || got.garbage != tt.garbage {
			t.Errorf("checkName(%.20q, %d): got %v %v garbage=%v; want %v %v garbage=%v",
				tt.name, tt.use, got.why, got.status, got.garbage, tt.why, tt.status, tt.garbage)
		}
	}
}

func TestCheckSymlinkTarget(t *testing.T) {
	tests := []struct {
		target string
		why    reason
		status nfs3.Stat
	}{
		{"x", reasonNone, nfs3.StatOK},
		{"../../etc/passwd", reasonNone, nfs3.StatOK}, // a target is the client's to resolve
		{strings.Repeat("t", 4095), reasonNone, nfs3.StatOK},
		{strings.Repeat("t", 4096), reasonNone, nfs3.StatOK},
		{strings.Repeat("t", 4097), reasonTargetTooLong, nfs3.StatNameTooLong},
		{"", reasonTargetInvalid, nfs3.StatInval},
		{"a\x00b", reasonTargetInvalid, nfs3.StatInval},
	}
	for _, tt := range tests {
		got := checkSymlinkTarget(tt.target)
		if got.why != tt.why || got.status != tt.status || got.garbage {
			t.Errorf("checkSymlinkTarget(%.20q): got %v %v garbage=%v; want %v %v", tt.target, got.why, got.status, got.garbage, tt.why, tt.status)
		}
	}
}

func TestCheckMountPath(t *testing.T) {
	tests := []struct {
		path   string
		why    reason
		status nfs3.MountStat
	}{
		{"/export", reasonNone, nfs3.MountOK},
		{"/export/", reasonNone, nfs3.MountOK},
		{"/a/b", reasonNone, nfs3.MountOK},
		{"/..x", reasonNone, nfs3.MountOK},
		{"/" + strings.Repeat("p", 1023), reasonNone, nfs3.MountOK},
		{"/" + strings.Repeat("p", 1024), reasonMountPathTooLong, nfs3.MountErrNameTooLong},
		{"", reasonMountPathInvalid, nfs3.MountErrAcces},
		{"export", reasonMountPathInvalid, nfs3.MountErrAcces},
		{"/export/../etc", reasonMountPathInvalid, nfs3.MountErrAcces},
		{"/export/..", reasonMountPathInvalid, nfs3.MountErrAcces},
		{"/export/.", reasonMountPathInvalid, nfs3.MountErrAcces},
		{"/export\x00/x", reasonMountPathInvalid, nfs3.MountErrAcces},
	}
	for _, tt := range tests {
		got := checkMountPath(tt.path)
		if got.why != tt.why || got.status != tt.status {
			t.Errorf("checkMountPath(%.30q): got %v %v; want %v %v", tt.path, got.why, got.status, tt.why, tt.status)
		}
	}
}

// recordingUpstream answers every call with an NFS3_OK directory and
// records the procedures it was called with.
type recordingUpstream struct {
	root nfs3.FH
	mu   sync.Mutex
	seen []uint32
}

func (u *recordingUpstream) Root() nfs3.FH { return u.root }
func (u *recordingUpstream) Call(ctx context.Context, cred *rpc.Cred, proc uint32, args xdr.Encoder, res xdr.Decoder) error {
	u.mu.Lock()
	u.seen = append(u.seen, proc)
	u.mu.Unlock()
	dir := nfs3.Fattr3{Type: nfs3.TypeDir, Mode: 0o755, FileID: 1}
	switch r := res.(type) {
	case *nfs3.GetattrRes:
		*r = nfs3.GetattrRes{Status: nfs3.StatOK, Attr: dir}
	case *nfs3.AccessRes:
		*r = nfs3.AccessRes{Status: nfs3.StatOK, Access: args.(*nfs3.AccessArgs).Access}
	case *nfs3.LookupRes:
		// A "parent" outside the export, as an upstream that resolves
		// ".." above its root would answer.
		*r = nfs3.LookupRes{Status: nfs3.StatOK, Object: nfs3.FH("outside"), ObjAttr: nfs3.PostOpAttr{Set: true, Attr: dir}}
	}
	return nil
}

func (u *recordingUpstream) calls() []uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint32(nil), u.seen...)
}

func (u *recordingUpstream) reset() {
	u.mu.Lock()
	u.seen = nil
	u.mu.Unlock()
}

// call sends one NFS call and returns the reply's results, or the RPC error.
func (c *rawClient) call(xid, prog, proc uint32, cred *rpc.Cred, args xdr.Encoder) (*xdr.Reader, error) {
	c.t.Helper()
	c.sendRecord(callBody(xid, prog, 3, proc, cred, args))
	got, r, err := replyHead(c.t, c.readReply())
	if got != xid {
		c.t.Fatalf("reply xid: got %d; want %d", got, xid)
	}
	return r, err
}

// firstStatus reads the status every NFS result starts with.
func firstStatus(r *xdr.Reader) nfs3.Stat { return nfs3.Stat(r.Uint32()) }

func TestBadNamesAreNotForwarded(t *testing.T) {
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	root := appendHandle(nil, 7, up.root)
	file := appendHandle(nil, 7, nfs3.FH{9, 9, 9, 9})
	long := strings.Repeat("n", 256)

	// garbage: the reply is GARBAGE_ARGS; otherwise status.
	type want struct {
		garbage bool
		status  nfs3.Stat
		reason  string
	}
	garbage := func(r string) want { return want{garbage: true, reason: r} }
	status := func(st nfs3.Stat, r string) want { return want{status: st, reason: r} }

	d := func(name string) nfs3.DirOpArgs { return nfs3.DirOpArgs{Dir: root, Name: name} }
	procs := []struct {
		proc uint32
		args func(name string) xdr.Encoder
		dot  want // answer for "." and ".."
	}{
		{nfs3.ProcLookup, func(n string) xdr.Encoder { return &nfs3.LookupArgs{What: d(n)} }, want{}},
		{nfs3.ProcCreate, func(n string) xdr.Encoder { return &nfs3.CreateArgs{Where: d(n)} }, status(nfs3.StatExist, "name_dot")},
		{nfs3.ProcMkdir, func(n string) xdr.Encoder { return &nfs3.MkdirArgs{Where: d(n)} }, status(nfs3.StatExist, "name_dot")},
		{nfs3.ProcSymlink, func(n string) xdr.Encoder { return &nfs3.SymlinkArgs{Where: d(n), Path: "target"} }, status(nfs3.StatExist, "name_dot")},
		{nfs3.ProcMknod, func(n string) xdr.Encoder { return &nfs3.MknodArgs{Where: d(n), Type: nfs3.TypeFIFO} }, status(nfs3.StatExist, "name_dot")},
		{nfs3.ProcRemove, func(n string) xdr.Encoder { return &nfs3.RemoveArgs{Object: d(n)} }, status(nfs3.StatAcces, "name_dot")},
		{nfs3.ProcRmdir, func(n string) xdr.Encoder { return &nfs3.RmdirArgs{Object: d(n)} }, status(nfs3.StatAcces, "name_dot")},
		{nfs3.ProcRename, func(n string) xdr.Encoder { return &nfs3.RenameArgs{From: d(n), To: d("ok")} }, status(nfs3.StatPerm, "name_dot")},
		{nfs3.ProcRename, func(n string) xdr.Encoder { return &nfs3.RenameArgs{From: d("ok"), To: d(n)} }, status(nfs3.StatPerm, "name_dot")},
		{nfs3.ProcLink, func(n string) xdr.Encoder { return &nfs3.LinkArgs{File: file, Link: d(n)} }, status(nfs3.StatExist, "name_dot")},
	}
	names := []struct {
		name string
		want want
	}{
		{"../x", garbage("name_slash")},
		{"a/b", garbage("name_slash")},
		{"../../../../../etc", garbage("name_slash")},
		{"evil\x00tail", garbage("name_nul")},
		{"", garbage("name_empty")},
		{long, status(nfs3.StatNameTooLong, "name_too_long")},
		{".", want{}},
		{"..", want{}},
	}
	xid := uint32(1000)
	for i, p := range procs {
		for _, n := range names {
			w := n.want
			if n.name == "." || n.name == ".." {
				w = p.dot
				if w.reason == "" {
					continue // allowed (LOOKUP)
				}
			}
			t.Run(fmt.Sprintf("%d-%s/%.20q", i, nfs3.ProcName(p.proc), n.name), func(t *testing.T) {
				up.reset()
				before := s.Rejections().ByReason[w.reason]
				xid++
				r, err := c.call(xid, nfs3.Program, p.proc, &testCred, p.args(n.name))
				var re *rpc.ReplyError
				switch {
				case w.garbage:
					if !errors.As(err, &re) || re.AcceptStat != rpc.GarbageArgs {
						t.Fatalf("reply: got %v; want GARBAGE_ARGS", err)
					}
				case err != nil:
					t.Fatalf("reply: got %v; want %v", err, w.status)
				default:
					if got := firstStatus(r); got != w.status {
						t.Fatalf("status: got %v; want %v", got, w.status)
					}
				}
				if got := up.calls(); len(got) != 0 {
					t.Fatalf("upstream calls: got %v; want none", got)
				}
				if got := s.Rejections().ByReason[w.reason]; got != before+1 {
					t.Fatalf("rejections[%s]: got %d; want %d", w.reason, got, before+1)
				}
			})
		}
	}

	// A good name and "." in LOOKUP are forwarded.
	for _, name := range []string{"fine", ".", strings.Repeat("n", 255)} {
		up.reset()
		xid++
		r, err := c.call(xid, nfs3.Program, nfs3.ProcLookup, &testCred, &nfs3.LookupArgs{What: d(name)})
		if err != nil {
			t.Fatal(err)
		}
		if got := firstStatus(r); got != nfs3.StatOK {
			t.Fatalf("LOOKUP %.20q: got %v; want NFS3_OK", name, got)
		}
		if !containsProc(up.calls(), nfs3.ProcLookup) {
			t.Fatalf("LOOKUP %.20q: upstream calls %v; want a LOOKUP", name, up.calls())
		}
	}
	// The caches never hold a refused name.
	v := s.vols[7]
	for _, name := range []string{"../x", "a/b", "evil\x00tail", ""} {
		if _, ok := v.meta.LookupStale(up.root, name); ok {
			t.Fatalf("name cache holds %q", name)
		}
	}
}

func containsProc(procs []uint32, p uint32) bool {
	for _, q := range procs {
		if q == p {
			return true
		}
	}
	return false
}

func TestSymlinkTargetLimits(t *testing.T) {
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	root := appendHandle(nil, 7, up.root)
	tests := []struct {
		target  string
		status  nfs3.Stat
		forward bool
	}{
		{strings.Repeat("t", 4095), nfs3.StatOK, true},
		{strings.Repeat("t", 4096), nfs3.StatOK, true},
		{strings.Repeat("t", 4097), nfs3.StatNameTooLong, false},
		{strings.Repeat("t", 60000), nfs3.StatNameTooLong, false},
		{"", nfs3.StatInval, false},
		{"a\x00b", nfs3.StatInval, false},
	}
	for i, tt := range tests {
		up.reset()
		r, err := c.call(uint32(2000+i), nfs3.Program, nfs3.ProcSymlink, &testCred,
			&nfs3.SymlinkArgs{Where: nfs3.DirOpArgs{Dir: root, Name: "l"}, Path: tt.target})
		if err != nil {
			t.Fatalf("target of %d bytes: got %v; want %v", len(tt.target), err, tt.status)
		}
		if got := firstStatus(r); got != tt.status {
			t.Errorf("target of %d bytes: got %v; want %v", len(tt.target), got, tt.status)
		}
		if got := containsProc(up.calls(), nfs3.ProcSymlink); got != tt.forward {
			t.Errorf("target of %d bytes: forwarded %v; want %v", len(tt.target), got, tt.forward)
		}
	}
	if got := s.Rejections().ByReason["symlink_target_too_long"]; got != 2 {
		t.Errorf("rejections[symlink_target_too_long]: got %d; want 2", got)
	}
}

func TestLookupDotDotAtRootIsRoot(t *testing.T) {
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	_, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	root := appendHandle(nil, 7, up.root)
	user := rpc.Cred{Flavor: rpc.AuthSys, Machine: "test", UID: 1000, GID: 1000}
	for i, cred := range []*rpc.Cred{&testCred, &user} {
		up.reset()
		r, err := c.call(uint32(3000+i), nfs3.Program, nfs3.ProcLookup, cred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: root, Name: ".."}})
		if err != nil {
			t.Fatal(err)
		}
		var res nfs3.LookupRes
		if err := res.Decode(r); err != nil {
			t.Fatal(err)
		}
		if res.Status != nfs3.StatOK || !bytes.Equal(res.Object, root) {
			t.Fatalf("uid %d: LOOKUP(root, \"..\"): got %v %x; want NFS3_OK and the root %x", cred.UID, res.Status, res.Object, root)
		}
		if !res.ObjAttr.Set || res.ObjAttr.Attr.Type != nfs3.TypeDir {
			t.Fatalf("uid %d: LOOKUP(root, \"..\") attributes: got %+v; want the root's", cred.UID, res.ObjAttr)
		}
		if containsProc(up.calls(), nfs3.ProcLookup) {
			t.Fatalf("uid %d: upstream calls %v; want no LOOKUP", cred.UID, up.calls())
		}
	}
	// Below the root, ".." is the upstream's to answer.
	up.reset()
	sub := appendHandle(nil, 7, nfs3.FH{5, 5, 5, 5})
	if _, err := c.call(3100, nfs3.Program, nfs3.ProcLookup, &testCred, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: sub, Name: ".."}}); err != nil {
		t.Fatal(err)
	}
	if !containsProc(up.calls(), nfs3.ProcLookup) {
		t.Fatalf("LOOKUP(sub, \"..\"): upstream calls %v; want a LOOKUP", up.calls())
	}
}

func TestLookupDotDotAtRootNeedsSearchPermission(t *testing.T) {
	up := &fakeUpstream{root: nfs3.FH{1, 2, 3, 4}, call: func(_ context.Context, proc uint32, _ xdr.Encoder, res xdr.Decoder) error {
		if g, ok := res.(*nfs3.GetattrRes); ok {
			*g = nfs3.GetattrRes{Status: nfs3.StatOK, Attr: nfs3.Fattr3{Type: nfs3.TypeDir, Mode: 0o700, FileID: 1}}
		}
		return nil
	}}
	_, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	user := rpc.Cred{Flavor: rpc.AuthSys, Machine: "test", UID: 1000, GID: 1000}
	r, err := c.call(1, nfs3.Program, nfs3.ProcLookup, &user, &nfs3.LookupArgs{What: nfs3.DirOpArgs{Dir: appendHandle(nil, 7, up.root), Name: ".."}})
	if err != nil {
		t.Fatal(err)
	}
	if got := firstStatus(r); got != nfs3.StatAcces {
		t.Fatalf("LOOKUP(root, \"..\") by a user without x on a 0700 root: got %v; want NFS3ERR_ACCES", got)
	}
}

func TestMountPathLimits(t *testing.T) {
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	tests := []struct {
		path string
		want nfs3.MountStat
	}{
		{"/export", nfs3.MountOK},
		{"/export/", nfs3.MountOK},
		{"/nope", nfs3.MountErrNoEnt},
		{"/" + strings.Repeat("p", 1024), nfs3.MountErrNameTooLong},
		{"/" + strings.Repeat("p", 5000), nfs3.MountErrNameTooLong},
		{"export", nfs3.MountErrAcces},
		{"/export/../export", nfs3.MountErrAcces},
		{"/export/..", nfs3.MountErrAcces},
		{"/export\x00evil", nfs3.MountErrAcces},
	}
	for i, tt := range tests {
		c.sendRecord(callBody(uint32(4000+i), nfs3.MountProgram, 3, nfs3.MountProcMnt, &testCred, &nfs3.MntArgs{Path: tt.path}))
		_, r, err := replyHead(t, c.readReply())
		if err != nil {
			t.Fatalf("MNT %.30q: got %v; want %v", tt.path, err, tt.want)
		}
		var res nfs3.MntRes
		if err := res.Decode(r); err != nil {
			t.Fatal(err)
		}
		if res.Status != tt.want {
			t.Errorf("MNT %.30q: got %v; want %v", tt.path, res.Status, tt.want)
		}
	}
	rj := s.Rejections().ByReason
	if rj["mount_path_too_long"] != 2 || rj["mount_path_invalid"] != 4 {
		t.Errorf("rejections: got too_long %d invalid %d; want 2 and 4", rj["mount_path_too_long"], rj["mount_path_invalid"])
	}
}

// logLines counts the warn lines a handler receives.
type logLines struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (h *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h *logLines) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && r.Message == "request rejected" {
		h.mu.Lock()
		h.lines = append(h.lines, r.Clone())
		h.mu.Unlock()
	}
	return nil
}
func (h *logLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logLines) WithGroup(string) slog.Handler      { return h }

func (h *logLines) attrs(i int) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]string{}
	h.lines[i].Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	return m
}

func (h *logLines) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines)
}

func TestRejectionsAreLoggedRateLimited(t *testing.T) {
	logs := &logLines{}
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	s, err := New(Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	s.rejects.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	client := netip.MustParseAddrPort("192.0.2.1:700")
	for range 3 {
		s.reject(reasonNameSlash, nfsProgram, nfs3.ProcLookup, client, "limit", "no / in a name")
	}
	s.reject(reasonNameNUL, nfsProgram, nfs3.ProcCreate, client)
	if got := logs.count(); got != 2 {
		t.Fatalf("lines after 3 slash and 1 NUL rejections: got %d; want 2 (one per reason)", got)
	}
	a := logs.attrs(0)
	if a["reason"] != "name_slash" || a["proc"] != "LOOKUP" || a["client"] != "192.0.2.1:700" || a["limit"] != "no / in a name" {
		t.Fatalf("first line: got %v; want reason, proc, client and limit", a)
	}
	advance(rejectLogEvery)
	s.reject(reasonNameSlash, nfsProgram, nfs3.ProcLookup, client)
	if got := logs.count(); got != 3 {
		t.Fatalf("lines a second later: got %d; want 3", got)
	}
	if a := logs.attrs(2); a["suppressed"] != "2" {
		t.Fatalf("suppressed: got %q; want 2", a["suppressed"])
	}
	if got := s.Rejections().ByReason["name_slash"]; got != 4 {
		t.Fatalf("rejections[name_slash]: got %d; want 4", got)
	}
}

func TestUndecodableArgumentsAreCountedByReason(t *testing.T) {
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	// A LOOKUP whose name claims more bytes than MaxNameDecode.
	w := xdr.NewWriter(nil)
	rpc.EncodeCall(w, 5, nfs3.Program, 3, nfs3.ProcLookup, &testCred)
	w.Opaque(appendHandle(nil, 7, up.root))
	w.Uint32(nfs3.MaxNameDecode + 1)
	c.sendRecord(w.Bytes())
	_, _, err := replyHead(t, c.readReply())
	var re *rpc.ReplyError
	if !errors.As(err, &re) || re.AcceptStat != rpc.GarbageArgs {
		t.Fatalf("reply: got %v; want GARBAGE_ARGS", err)
	}
	st := s.Stats()
	if st.Garbage != 1 || s.Rejections().ByReason["arguments"] != 1 {
		t.Fatalf("garbage %d, rejections[arguments] %d; want 1 and 1", st.Garbage, s.Rejections().ByReason["arguments"])
	}
}
