package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Protocol cases as data (testdata/protocol/*.txt), in the style of
// cockroachdb/datadriven: a case is one request line, a line "----", and
// the expected reply, up to a blank line or the end of the file. Lines
// starting with # are comments. A request is a command and its arguments,
// each a Go-quoted string, optionally repeated: "n"*256 is 256 n's. So a
// new protocol case is a few lines of test data; TestProtocolData runs
// every file.

// ddCase is one case of a data file.
type ddCase struct {
	pos  string   // file:line of the request
	cmd  string   // the command
	args []string // its arguments, unquoted
	want string   // the expected output, lines joined by \n
}

// readDDFile parses a data file.
func readDDFile(t *testing.T, path string) []ddCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []ddCase
	var cur *ddCase
	inWant := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		pos := fmt.Sprintf("%s:%d", filepath.Base(path), line)
		switch {
		case cur == nil && (text == "" || strings.HasPrefix(text, "#")):
		case cur == nil:
			cmd, args, err := parseDDRequest(text)
			if err != nil {
				t.Fatalf("%s: %v", pos, err)
			}
			cur = &ddCase{pos: pos, cmd: cmd, args: args}
		case !inWant:
			if text != "----" {
				t.Fatalf("%s: got %q; want ---- after the request", pos, text)
			}
			inWant = true
		case text == "":
			cases = append(cases, *cur)
			cur, inWant = nil, false
		default:
			if cur.want != "" {
				cur.want += "\n"
			}
			cur.want += text
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		if !inWant {
			t.Fatalf("%s: request without ----", cur.pos)
		}
		cases = append(cases, *cur)
	}
	return cases
}

// parseDDRequest splits a request line into its command and arguments.
func parseDDRequest(line string) (string, []string, error) {
	cmd, rest, _ := strings.Cut(line, " ")
	var args []string
	for rest = strings.TrimLeft(rest, " "); rest != ""; rest = strings.TrimLeft(rest, " ") {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", nil, fmt.Errorf("argument %q: want a Go-quoted string", rest)
		}
		s, _ := strconv.Unquote(q)
		rest = rest[len(q):]
		if strings.HasPrefix(rest, "*") {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return "", nil, fmt.Errorf("repeat %q: want *N", rest[:end])
			}
			s, rest = strings.Repeat(s, n), rest[end:]
		}
		args = append(args, s)
	}
	return cmd, args, nil
}

func TestParseDDRequest(t *testing.T) {
	tests := []struct {
		line string
		cmd  string
		args []string
		err  bool
	}{
		{`lookup "a"`, "lookup", []string{"a"}, false},
		{`symlink "l"  "t"*3`, "symlink", []string{"l", "ttt"}, false},
		{`create "evil\x00tail"`, "create", []string{"evil\x00tail"}, false},
		{`create ""`, "create", []string{""}, false},
		{`create bare`, "", nil, true},
		{`create "x"*y`, "", nil, true},
	}
	for _, tt := range tests {
		cmd, args, err := parseDDRequest(tt.line)
		if (err != nil) != tt.err || cmd != tt.cmd || strings.Join(args, "|") != strings.Join(tt.args, "|") {
			t.Errorf("parseDDRequest(%q): got %q %q %v; want %q %q error=%v", tt.line, cmd, args, err, tt.cmd, tt.args, tt.err)
		}
	}
}

// TestProtocolData runs the protocol cases of testdata/protocol against a
// proxy in front of a recording upstream. The output of a case is the
// reply (GARBAGE_ARGS or the NFS status), the procedures the upstream saw
// ("-" for none) and the rejection reasons counted ("-" for none).
func TestProtocolData(t *testing.T) {
	files, err := filepath.Glob("testdata/protocol/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/protocol/*.txt: got %d files, %v; want some", len(files), err)
	}
	up := &recordingUpstream{root: nfs3.FH{1, 2, 3, 4}}
	s, addr := startProxy(t, Options{Volumes: []Volume{{ID: 7, Name: "/export", Upstream: up}}})
	c := dialRaw(t, addr)
	root := appendHandle(nil, 7, up.root)
	file := appendHandle(nil, 7, nfs3.FH{9, 9, 9, 9})
	d := func(name string) nfs3.DirOpArgs { return nfs3.DirOpArgs{Dir: root, Name: name} }
	// The commands: each builds the call of one procedure from its
	// arguments.
	cmds := map[string]struct {
		proc  uint32
		nargs int
		args  func(a []string) xdr.Encoder
	}{
		"lookup":      {nfs3.ProcLookup, 1, func(a []string) xdr.Encoder { return &nfs3.LookupArgs{What: d(a[0])} }},
		"create":      {nfs3.ProcCreate, 1, func(a []string) xdr.Encoder { return &nfs3.CreateArgs{Where: d(a[0])} }},
		"mkdir":       {nfs3.ProcMkdir, 1, func(a []string) xdr.Encoder { return &nfs3.MkdirArgs{Where: d(a[0])} }},
		"symlink":     {nfs3.ProcSymlink, 2, func(a []string) xdr.Encoder { return &nfs3.SymlinkArgs{Where: d(a[0]), Path: a[1]} }},
		"mknod":       {nfs3.ProcMknod, 1, func(a []string) xdr.Encoder { return &nfs3.MknodArgs{Where: d(a[0]), Type: nfs3.TypeFIFO} }},
		"remove":      {nfs3.ProcRemove, 1, func(a []string) xdr.Encoder { return &nfs3.RemoveArgs{Object: d(a[0])} }},
		"rmdir":       {nfs3.ProcRmdir, 1, func(a []string) xdr.Encoder { return &nfs3.RmdirArgs{Object: d(a[0])} }},
		"rename-from": {nfs3.ProcRename, 1, func(a []string) xdr.Encoder { return &nfs3.RenameArgs{From: d(a[0]), To: d("ok")} }},
		"rename-to":   {nfs3.ProcRename, 1, func(a []string) xdr.Encoder { return &nfs3.RenameArgs{From: d("ok"), To: d(a[0])} }},
		"link":        {nfs3.ProcLink, 1, func(a []string) xdr.Encoder { return &nfs3.LinkArgs{File: file, Link: d(a[0])} }},
	}
	xid := uint32(5000)
	for _, path := range files {
		for _, tc := range readDDFile(t, path) {
			cmd, ok := cmds[tc.cmd]
			if !ok || len(tc.args) != cmd.nargs {
				t.Fatalf("%s: unknown command %q with %d arguments", tc.pos, tc.cmd, len(tc.args))
			}
			up.reset()
			before := s.Rejections().ByReason
			xid++
			r, err := c.call(xid, nfs3.Program, cmd.proc, &testCred, cmd.args(tc.args))
			var out strings.Builder
			var re *rpc.ReplyError
			switch {
			case errors.As(err, &re) && re.AcceptStat == rpc.GarbageArgs:
				out.WriteString("GARBAGE_ARGS")
			case err != nil:
				t.Fatalf("%s: reply: %v", tc.pos, err)
			default:
				out.WriteString(firstStatus(r).String())
			}
			var procs []string
			for _, p := range up.calls() {
				procs = append(procs, nfs3.ProcName(p))
			}
			fmt.Fprintf(&out, "\nupstream: %s", ddList(procs))
			var reasons []string
			for why, n := range s.Rejections().ByReason {
				if n != before[why] {
					reasons = append(reasons, fmt.Sprintf("%s+%d", why, n-before[why]))
				}
			}
			sort.Strings(reasons)
			fmt.Fprintf(&out, "\nrejected: %s", ddList(reasons))
			if got := out.String(); got != tc.want {
				t.Errorf("%s: %s %.40q:\ngot:\n%s\nwant:\n%s", tc.pos, tc.cmd, tc.args, got, tc.want)
			}
		}
	}
}

// ddList is a list in an expected output: space separated, "-" if empty.
func ddList(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}
