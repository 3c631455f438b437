package harness

import (
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// GaneshaOptions configures [StartGanesha]. The zero value works: a fresh
// temporary export directory, free loopback ports, log in the state directory.
type GaneshaOptions struct {
	// Dir is the local directory to export. It must exist. Default: a fresh
	// temporary directory with mode 0777 (so any uid can create files in
	// it), removed by Close.
	Dir string

	// StateDir holds ganesha.conf, the pid file, the NFSv4 recovery root and,
	// by default, the log. Default: a fresh temporary directory, removed by
	// Close.
	StateDir string

	// LogPath is ganesha's log file (-L); it is appended to across restarts.
	// Default: StateDir/ganesha.log.
	LogPath string

	// Host is the loopback IPv4 address to bind. Default: 127.0.0.1.
	Host string

	// NFSPort and MountPort are the TCP ports for NFS and MOUNT. Zero picks
	// a free loopback port (and picks again if ganesha then finds it taken).
	NFSPort, MountPort int

	// NLM turns on ganesha's NLM v4 (TCP) on NLMPort, or on a free
	// loopback port when that is zero (see [Ganesha.NLMPort]). It needs an
	// rpc.statd, started by [EnsureStatd] if none is registered: without
	// one ganesha grants no lock. Off by default: ganesha then needs no
	// statd and registers no NLM with rpcbind, as before.
	NLM     bool
	NLMPort int

	// LogLevel is ganesha's -N level: "NIV_EVENT" (default), "NIV_INFO",
	// "NIV_DEBUG", "NIV_MID_DEBUG" or "NIV_FULL_DEBUG". Quieter levels are
	// refused: readiness waits for an EVENT line in the log.
	LogLevel string

	// StartTimeout bounds start-up until the server answers, retries
	// included. Default: 2m (generous: on a busy machine one attempt can
	// spend many seconds on rpcbind, and a wait that is too long only costs
	// time when the start fails anyway).
	StartTimeout time.Duration

	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Default: 10s.
	StopTimeout time.Duration
}

// Export is the pseudo path every harness ganesha exports.
const Export = "/export"

func (o *GaneshaOptions) setDefaults() {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.LogLevel == "" {
		o.LogLevel = "NIV_EVENT"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
}

// Validate reports the first invalid field.
func (o *GaneshaOptions) Validate() error {
	ip := net.ParseIP(o.Host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return fmt.Errorf("harness: GaneshaOptions.Host %q: want an IPv4 loopback address", o.Host)
	}
	for name, p := range map[string]int{"NFSPort": o.NFSPort, "MountPort": o.MountPort, "NLMPort": o.NLMPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("harness: GaneshaOptions.%s %d: out of range", name, p)
		}
	}
	if o.NFSPort != 0 && o.NFSPort == o.MountPort {
		return fmt.Errorf("harness: GaneshaOptions.MountPort %d: same as NFSPort", o.MountPort)
	}
	for name, p := range map[string]string{"Dir": o.Dir, "StateDir": o.StateDir, "LogPath": o.LogPath} {
		if p == "" {
			continue
		}
		if !filepath.IsAbs(p) {
			return fmt.Errorf("harness: GaneshaOptions.%s %q: want an absolute path", name, p)
		}
		if !validConfigString(p) {
			return fmt.Errorf("harness: GaneshaOptions.%s %q: contains a quote or newline", name, p)
		}
	}
	switch o.LogLevel {
	case "NIV_EVENT", "NIV_INFO", "NIV_DEBUG", "NIV_MID_DEBUG", "NIV_FULL_DEBUG":
	default:
		return fmt.Errorf("harness: GaneshaOptions.LogLevel %q: want NIV_EVENT or more verbose", o.LogLevel)
	}
	if o.StartTimeout < 0 || o.StopTimeout < 0 {
		return fmt.Errorf("harness: GaneshaOptions timeouts must not be negative")
	}
	return nil
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("harness: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
