package kernel

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/nfscacheproxy/nfscacheproxy/portmap"
)

// Lock routes. The guest's lockd asks port 111 of the address it mounted
// for the server's NLM, and the host's 127.0.0.1:111 (10.0.2.2 in the
// guest) is the system rpcbind: shared by every nfs-ganesha on the host,
// so on a busy machine its NLM entry may be another ganesha's. Each lock
// target therefore gets an address of its own in the user network, whose
// port 111 leads to a portmapper that names only that server's NLM, and
// whose other ports lead to the same host ports (QEMU guestfwd, one
// `ktool relay` per connection).
const (
	proxyLockServer    = "10.0.2.100" // the proxy's portmapper (built in)
	upstreamLockServer = "10.0.2.101" // ganesha's NLM, named by StartUpstreamPortmap
)

// lockRoute is the guestfwd rules of one lock address: port 111 to
// pmapPort, each of ports to itself.
func lockRoute(shareDir, addr string, pmapPort int, ports ...int) []GuestFwd {
	relay := filepath.Join(shareDir, "bin", "ktool") + " relay 127.0.0.1:"
	fwd := []GuestFwd{{Addr: addr, Port: 111, Cmd: relay + strconv.Itoa(pmapPort)}}
	seen := map[int]bool{}
	for _, p := range ports {
		if !seen[p] {
			seen[p] = true
			fwd = append(fwd, GuestFwd{Addr: addr, Port: p, Cmd: relay + strconv.Itoa(p)})
		}
	}
	return fwd
}

// StartUpstreamPortmap serves, on a free loopback port, a portmapper that
// maps NFS v3, MOUNT v3 and NLM v4 over TCP to ganesha's ports. Close the
// returned server when done.
func StartUpstreamPortmap(nfsPort, mountPort, nlmPort int) (*portmap.Server, int, error) {
	s, err := portmap.New(portmap.Options{Mappings: []portmap.Mapping{
		{Prog: portmap.ProgNFS, Vers: 3, Netid: "tcp", Port: uint32(nfsPort)},
		{Prog: portmap.ProgMount, Vers: 3, Netid: "tcp", Port: uint32(mountPort)},
		{Prog: portmap.ProgNLM, Vers: 4, Netid: "tcp", Port: uint32(nlmPort)},
	}})
	if err != nil {
		return nil, 0, fmt.Errorf("kernel: upstream portmapper: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, 0, fmt.Errorf("kernel: upstream portmapper: %w", err)
	}
	go s.Serve(l) // returns at Close
	return s, l.Addr().(*net.TCPAddr).Port, nil
}
