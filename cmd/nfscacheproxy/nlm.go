package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/metrics"
	"github.com/nfscacheproxy/nfscacheproxy/nlm"
	"github.com/nfscacheproxy/nfscacheproxy/portmap"
)

// nlmParts is the running NLM server and its TCP and UDP sockets.
type nlmParts struct {
	srv *nlm.Server
	l   net.Listener
	pc  net.PacketConn
}

// startNLM finds each volume's upstream NLM (through the upstream's
// portmapper) and builds the NLM server, unless NLM is off.
func (a *app) startNLM(ctx context.Context) error {
	nc := &a.cfg.NLM
	if nc.Enabled != nil && !*nc.Enabled || !a.cfg.Portmap.Enabled {
		return nil
	}
	ups := make(map[uint16]nlm.Upstream)
	upIPs := make(map[uint16][]string)
	for i := range a.cfg.Volumes {
		vc := &a.cfg.Volumes[i]
		host, _, err := vc.UpstreamHostPath()
		if err != nil {
			return err
		}
		port, err := uint32(vc.NLMPort), error(nil)
		if port == 0 {
			port, err = upstreamNLMPort(ctx, host, vc.NFSPort)
		}
		if err != nil || port == 0 {
			a.log.Warn("the upstream offers no NLM v4: locks on this volume are refused (clients must mount it with nolock or local_lock=all)",
				"volume", vc.ID, "upstream", host, "err", err)
			continue
		}
		c := nlm.NewClient(net.JoinHostPort(host, strconv.Itoa(int(port))), nlm.Program, nlm.Version4, nc.Name)
		a.closers = append(a.closers, func() { c.Close() })
		ups[uint16(vc.ID)] = c
		// An SM_NOTIFY from these addresses is the upstream's reboot.
		if ips, err := net.DefaultResolver.LookupHost(ctx, host); err == nil {
			upIPs[uint16(vc.ID)] = ips
		}
	}
	if nc.Enabled == nil && len(ups) == 0 {
		a.log.Info("nlm: off: no upstream offers NLM")
		return nil
	}
	srv, err := nlm.New(nlm.Options{
		Name: nc.Name, Files: a.srv.LockFiles(), Upstreams: ups,
		UpstreamBlocking: nc.UpstreamCallbacks, PollInterval: nc.PollInterval.Duration,
		StateFile: a.cfg.NLMStateFile(), GracePeriod: nc.GracePeriod.Duration,
		ClientPortmapPort: nc.ClientPortmapPort, UpstreamIPs: upIPs,
		Logger: a.log,
	})
	if err != nil {
		return err
	}
	if a.cfg.NLMStateFile() == "" {
		a.log.Warn("nlm: no state file (nlm.state_file, or cache.dir): after a restart clients cannot reclaim their locks, and the upstream keeps them until the clients' hosts reboot")
	}
	addr := nc.Listen
	if addr == "" {
		addr = ":0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("nlm.listen %s: %w", addr, err)
	}
	// UDP on the same port when it is free, else on any.
	host, _, _ := net.SplitHostPort(addr)
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	if err != nil {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		l.Close()
		return fmt.Errorf("nlm.listen %s (udp): %w", addr, err)
	}
	a.nlm = &nlmParts{srv: srv, l: l, pc: pc}
	a.registerNLMMetrics()
	a.closers = append(a.closers, func() { srv.Close(); l.Close(); pc.Close() })
	return nil
}

// upstreamNLMPort asks the portmapper on host for NLM v4 over TCP. When
// the volume names its NFS port, the portmapper must map NFS v3 to that
// port, or it describes another server on the same host and its NLM is
// not this upstream's: then 0 is returned.
func upstreamNLMPort(ctx context.Context, host string, nfsPort int) (uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pm := net.JoinHostPort(host, "111")
	if nfsPort != 0 {
		p, err := nlm.GetPort(ctx, pm, portmap.ProgNFS, 3)
		if err != nil {
			return 0, err
		}
		if int(p) != nfsPort {
			return 0, fmt.Errorf("its portmapper maps NFS v3 to port %d, not the volume's nfs_port %d", p, nfsPort)
		}
	}
	return nlm.GetPort(ctx, pm, nlm.Program, nlm.Version4)
}

// nlmMappings is what the portmapper registers for NLM: v4 on TCP.
func (a *app) nlmMappings() []portmap.Mapping {
	if a.nlm == nil {
		return nil
	}
	return portmap.NLMMappings(uint32(a.nlm.l.Addr().(*net.TCPAddr).Port), uint32(a.nlm.pc.LocalAddr().(*net.UDPAddr).Port))
}

// serveNLM serves NLM over TCP, and with udp over UDP, until the server
// is closed.
func (a *app) serveNLM(udp bool) func() error {
	return func() error {
		var err error
		if udp {
			err = a.nlm.srv.ServeUDP(a.nlm.pc)
		} else {
			err = a.nlm.srv.Serve(a.nlm.l)
		}
		if errors.Is(err, nlm.ErrClosed) {
			return nil
		}
		return err
	}
}

// registerNLMMetrics exports the NLM server's counters.
func (a *app) registerNLMMetrics() {
	c := func(name, help string, f func(nlm.Stats) int64) metrics.SnapshotMetric[nlm.Stats] {
		return metrics.Counter(name, help, func(s nlm.Stats) float64 { return float64(f(s)) })
	}
	a.mets.Registry().MustRegister(metrics.NewSnapshotCollector(a.nlm.srv.Stats,
		c("nfscacheproxy_nlm_calls_total", "NLM and NSM calls decoded.", func(s nlm.Stats) int64 { return s.Calls }),
		c("nfscacheproxy_nlm_garbage_total", "NLM messages dropped or answered GARBAGE_ARGS.", func(s nlm.Stats) int64 { return s.Garbage }),
		c("nfscacheproxy_nlm_locks_granted_total", "LOCKs granted at once.", func(s nlm.Stats) int64 { return s.Granted }),
		c("nfscacheproxy_nlm_locks_denied_total", "Non-blocking LOCKs denied by a conflicting lock.", func(s nlm.Stats) int64 { return s.Denied }),
		c("nfscacheproxy_nlm_locks_blocked_total", "Blocking LOCKs answered blocked and retried upstream.", func(s nlm.Stats) int64 { return s.Blocked }),
		c("nfscacheproxy_nlm_upstream_errors_total", "Upstream NLM calls that failed or timed out (answered denied_nolocks).", func(s nlm.Stats) int64 { return s.UpstreamErrors }),
		c("nfscacheproxy_nlm_nolocks_total", "Lock requests for volumes whose upstream serves no NLM.", func(s nlm.Stats) int64 { return s.NoLocks }),
		c("nfscacheproxy_nlm_granted_callbacks_total", "GRANTED callbacks sent to clients.", func(s nlm.Stats) int64 { return s.Callbacks }),
		c("nfscacheproxy_nlm_granted_callback_failures_total", "GRANTED callbacks that failed or were refused (the lock was released).", func(s nlm.Stats) int64 { return s.CallbackFailed }),
		c("nfscacheproxy_nlm_clients_freed_total", "Clients whose locks FREE_ALL or SM_NOTIFY released.", func(s nlm.Stats) int64 { return s.Freed }),
		metrics.Gauge("nfscacheproxy_nlm_waiting", "Blocked lock requests being retried.", func(s nlm.Stats) float64 { return float64(s.Waiting) }),
		c("nfscacheproxy_nlm_reclaimed_total", "Locked files reclaimed by clients during the grace period after a restart.", func(s nlm.Stats) int64 { return s.Reclaimed }),
		c("nfscacheproxy_nlm_grace_released_total", "Locked files released upstream at the end of a grace period because no client reclaimed them.", func(s nlm.Stats) int64 { return s.GraceReleased }),
		c("nfscacheproxy_nlm_state_errors_total", "Lock state file reads and writes that failed (a LOCK whose state could not be written is answered denied_nolocks).", func(s nlm.Stats) int64 { return s.StateErrors }),
		c("nfscacheproxy_nlm_notify_total", "SM_NOTIFY calls to client hosts answered after a restart.", func(s nlm.Stats) int64 { return s.Notified }),
		c("nfscacheproxy_nlm_notify_failures_total", "Client hosts SM_NOTIFY did not reach before the grace period ended.", func(s nlm.Stats) int64 { return s.NotifyFailed }),
		c("nfscacheproxy_nlm_upstream_reboots_total", "Upstream reboots (SM_NOTIFY from an upstream) relayed to the clients holding locks there.", func(s nlm.Stats) int64 { return s.UpstreamReboots }),
		metrics.Gauge("nfscacheproxy_nlm_locks_held", "Files locked upstream by a client lock owner.", func(s nlm.Stats) float64 { return float64(s.Held) }),
		metrics.Gauge("nfscacheproxy_nlm_grace", "1 while in the grace period after a restart (only reclaims are served).", func(s nlm.Stats) float64 {
			if s.Grace {
				return 1
			}
			return 0
		}),
		metrics.Gauge("nfscacheproxy_nlm_owners", "Client lock owners mapped to upstream owners.", func(s nlm.Stats) float64 { return float64(s.Owners) }),
	))
}
