package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listen opens a datagram socket like systemd's; addr is what
// $NOTIFY_SOCKET would hold.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	name := addr
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	// The datagram was sent before Notify returned: it is queued already.
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	for _, tc := range []struct {
		name, addr string
	}{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", "@nfscacheproxy-sdnotify-test-" + strconv.Itoa(time.Now().Nanosecond())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := listen(t, tc.addr)
			if err := Notify(tc.addr, Ready("serving")); err != nil {
				t.Fatal(err)
			}
			if got, want := recv(t, c), "READY=1\nSTATUS=serving"; got != want {
				t.Errorf("got %q; want %q", got, want)
			}
		})
	}
}

func TestNotifyOutsideSystemd(t *testing.T) {
	if err := Notify("", "READY=1"); err != nil {
		t.Errorf("Notify with no socket: %v; want nil", err)
	}
}

func TestNotifyNoListener(t *testing.T) {
	if err := Notify(filepath.Join(t.TempDir(), "absent"), "READY=1"); err == nil || !strings.HasPrefix(err.Error(), "sdnotify: ") {
		t.Errorf("Notify to a missing socket: %v; want an sdnotify: error", err)
	}
}

func TestReloading(t *testing.T) {
	msg := Reloading()
	lines := strings.Split(msg, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("Reloading() = %q", msg)
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || n == 0 {
		t.Errorf("MONOTONIC_USEC %q: %v", lines[1], err)
	}
}
