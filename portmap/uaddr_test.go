package portmap

import (
	"net/netip"
	"testing"
)

func TestUaddr(t *testing.T) {
	tests := []struct {
		local string
		port  uint32
		netid string
		want  string
	}{
		{"127.0.0.1", 2049, "tcp", "127.0.0.1.8.1"},
		{"10.0.0.5", 111, "udp", "10.0.0.5.0.111"},
		{"192.168.1.1", 65535, "tcp", "192.168.1.1.255.255"},
		{"0.0.0.0", 0, "tcp", "0.0.0.0.0.0"},
		{"::1", 2049, "tcp6", "::1.8.1"},
		{"fe80::1%eth0", 2049, "udp6", "fe80::1.8.1"},
		{"127.0.0.1", 2049, "tcp6", "::ffff:127.0.0.1.8.1"},
		{"::ffff:10.1.1.1", 2049, "tcp", "10.1.1.1.8.1"},
		{"::1", 2049, "tcp", ""},
	}
	for _, tt := range tests {
		if got := uaddr(netip.MustParseAddr(tt.local), tt.port, tt.netid); got != tt.want {
			t.Errorf("uaddr(%s, %d, %s): got %q; want %q", tt.local, tt.port, tt.netid, got, tt.want)
		}
	}
	if got := uaddr(netip.Addr{}, 1, "tcp"); got != "" {
		t.Errorf("uaddr(invalid): got %q; want \"\"", got)
	}
	m := Mapping{Addr: "1.2.3.4.0.1", Port: 9, Netid: "tcp"}
	if got := addrFor(&m, netip.MustParseAddr("127.0.0.1")); got != m.Addr {
		t.Errorf("addrFor with Addr: got %q; want %q", got, m.Addr)
	}
}
