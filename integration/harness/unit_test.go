package harness

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestLibNFSURL(t *testing.T) {
	tests := []struct {
		name         string
		host         string
		export, path string
		uid, gid     uint32
		as           bool
		want         string
	}{
		{"file", "127.0.0.1", "/export", "a.txt", 0, 0, false,
			"nfs://127.0.0.1/export/a.txt?version=3&nfsport=2049&mountport=20048"},
		{"root", "127.0.0.1", "/export", "", 0, 0, false,
			"nfs://127.0.0.1/export?version=3&nfsport=2049&mountport=20048"},
		{"nested with slashes", "127.0.0.2", "/export/", "/sub/b", 0, 0, false,
			"nfs://127.0.0.2/export/sub/b?version=3&nfsport=2049&mountport=20048"},
		{"trailing slash kept", "127.0.0.1", "/export", "dir/", 0, 0, false,
			"nfs://127.0.0.1/export/dir/?version=3&nfsport=2049&mountport=20048"},
		{"credentials", "127.0.0.1", "/export", "a", 1000, 100, true,
			"nfs://127.0.0.1/export/a?version=3&nfsport=2049&mountport=20048&uid=1000&gid=100"},
		{"ipv6", "::1", "/export", "a", 0, 0, false,
			"nfs://[::1]/export/a?version=3&nfsport=2049&mountport=20048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LibNFSURL(tt.host, 2049, 20048, tt.export, tt.path)
			if tt.as {
				got = LibNFSURLAs(tt.host, 2049, 20048, tt.export, tt.path, tt.uid, tt.gid)
			}
			if got != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name      string
		opts      GaneshaOptions
		wantField string // "" means valid
	}{
		{"zero value", GaneshaOptions{}, ""},
		{"other loopback", GaneshaOptions{Host: "127.0.0.5"}, ""},
		{"not loopback", GaneshaOptions{Host: "10.0.0.1"}, "Host"},
		{"ipv6", GaneshaOptions{Host: "::1"}, "Host"},
		{"port range", GaneshaOptions{NFSPort: 70000}, "NFSPort"},
		{"same ports", GaneshaOptions{NFSPort: 5000, MountPort: 5000}, "MountPort"},
		{"relative dir", GaneshaOptions{Dir: "export"}, "Dir"},
		{"quote in state dir", GaneshaOptions{StateDir: `/tmp/a"b`}, "StateDir"},
		{"negative timeout", GaneshaOptions{StopTimeout: -1}, "timeouts"},
		{"debug log", GaneshaOptions{LogLevel: "NIV_FULL_DEBUG"}, ""},
		{"quiet log", GaneshaOptions{LogLevel: "NIV_WARN"}, "LogLevel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.setDefaults()
			err := o.Validate()
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("got %v; want valid", err)
			case tt.wantField != "" && (err == nil || !strings.Contains(err.Error(), tt.wantField)):
				t.Errorf("got %v; want an error naming %s", err, tt.wantField)
			}
		})
	}
}

func TestMissingDependencyNamesPackage(t *testing.T) {
	_, err := lookBinary("no-such-binary-for-harness", "some-debian-package")
	if !errors.Is(err, ErrMissingDependency) || !strings.Contains(err.Error(), "some-debian-package") {
		t.Errorf("got %v; want ErrMissingDependency naming some-debian-package", err)
	}
	_, _, err = RunLibNFS(t.Context(), "nfs-no-such-tool")
	if !errors.Is(err, ErrMissingDependency) || !strings.Contains(err.Error(), "libnfs-utils") {
		t.Errorf("RunLibNFS of a missing tool: got %v; want ErrMissingDependency naming libnfs-utils", err)
	}
}

func TestConfigKeepsInstancesApart(t *testing.T) {
	conf := ganeshaConfig{Host: "127.0.0.1", NFSPort: 1, MountPort: 2, Dir: "/d", Export: "/export",
		RecoveryRoot: "/s/recovery", DBusPrefix: "p1", CCacheDir: "/s/ccache"}.render()
	for _, want := range []string{
		"Protocols = 3;", "Bind_addr = 127.0.0.1;", "NFS_Port = 1;", "MNT_Port = 2;",
		"Enable_UDP = false;", "Enable_NLM = false;", "Enable_RQUOTA = false;",
		"Mount_Path_Pseudo = true;", `Dbus_Name_Prefix = "p1";`, `CCacheDir = "/s/ccache";`,
		"Graceless = true;", `RecoveryRoot = "/s/recovery";`, `Path = "/d";`, `Pseudo = "/export";`,
		"Squash = No_Root_Squash;", "Name = VFS;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
}

func TestConfigNLM(t *testing.T) {
	conf := ganeshaConfig{Host: "127.0.0.1", NFSPort: 1, MountPort: 2, NLMPort: 3, Dir: "/d", Export: "/export",
		RecoveryRoot: "/s/recovery", DBusPrefix: "p1", CCacheDir: "/s/ccache"}.render()
	for _, want := range []string{"Enable_NLM = true;", "NLM_Port = 3;", "Enable_UDP = false;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "Enable_NLM = false;") {
		t.Errorf("config with NLMPort still turns NLM off:\n%s", conf)
	}
}

// reply builds a record-marked-free accepted reply with the given accept_stat.
func reply(xid, mtype, replyStat, stat uint32, body []byte) []byte {
	var b bytes.Buffer
	for _, v := range []uint32{xid, mtype, replyStat, authNone, 0, stat} {
		b.Write(binary.BigEndian.AppendUint32(nil, v))
	}
	b.Write(body)
	return b.Bytes()
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantErr string
		want    []byte
	}{
		{"success", reply(7, msgReply, 0, 0, []byte{1, 2, 3, 4}), "", []byte{1, 2, 3, 4}},
		{"wrong xid", reply(8, msgReply, 0, 0, nil), "xid", nil},
		{"call not reply", reply(7, msgCall, 0, 0, nil), "message type", nil},
		{"denied", reply(7, msgReply, 1, 0, nil), "MSG_DENIED", nil},
		{"prog unavail", reply(7, msgReply, 0, 1, nil), "PROG_UNAVAIL", nil},
		{"short", []byte{0, 0, 0, 7}, "short", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReply(tt.in, 7)
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("got %x, %v; want %x", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add(reply(7, msgReply, 0, 0, []byte{0, 0, 0, 0}))
	f.Add(reply(7, msgReply, 0, 1, nil))
	f.Add([]byte{0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseReply(b, 7)
		readRecord(bytes.NewReader(b))
	})
}
