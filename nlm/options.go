package nlm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/nfscacheproxy/nfscacheproxy/internal/xdr"
)

// Files is what the server needs from the NFS side: the upstream handle
// behind a client's file handle, and a hook run when a lock is granted.
type Files interface {
	// Resolve returns the volume and upstream handle of proxy handle fh;
	// ok is false for a handle that is not one of ours.
	Resolve(fh []byte) (vol uint16, ufh []byte, ok bool)
	// Allowed reports whether a client at addr may use volume vol (its
	// export policy); a refused client's requests are answered failed.
	Allowed(vol uint16, addr netip.AddrPort) bool
	// Granted runs after the upstream granted a lock on fh and before
	// the client hears of it: the place to revalidate cached attributes
	// and data, so the new holder reads what the previous one wrote.
	Granted(fh []byte)
}

// Upstream is a connection to an upstream NLM v4 server. *Client
// implements it.
type Upstream interface {
	Call(ctx context.Context, proc uint32, args xdr.Encoder, res xdr.Decoder) error
}

// Callback reaches a client's NLM to send it GRANTED. The default asks the
// client's portmapper (its IP, port Options.ClientPortmapPort) for NLM v4
// on TCP.
type Callback func(ctx context.Context, clientIP string, args *TestArgs) (Stat, error)

// Options configures a Server.
type Options struct {
	// Name is the caller_name the upstream sees for every lock the proxy
	// takes (default: the host name). The upstream's NSM monitors it and,
	// for blocking locks, calls back NLM at this name.
	Name string
	// Files maps handles and revalidates caches. Required.
	Files Files
	// Upstreams is the upstream NLM of each volume. A volume without one
	// answers every lock request denied_nolocks (the upstream serves no
	// NLM) and logs that once.
	Upstreams map[uint16]Upstream
	// UpstreamBlocking forwards blocking LOCKs as blocking, so the upstream
	// queues them and calls GRANTED back (the upstream must be able to
	// reach this server by Name through the portmapper on port 111).
	// Otherwise (the default) they are forwarded non-blocking and retried
	// every PollInterval until granted or cancelled; a GRANTED from the
	// upstream is honoured either way.
	UpstreamBlocking bool
	// PollInterval is how often a blocked lock is retried upstream
	// (default 2s; the Linux client itself re-sends every 30s).
	PollInterval time.Duration
	// CallTimeout bounds one upstream or callback call (default 30s).
	CallTimeout time.Duration
	// ClientPortmapPort is where clients' portmappers listen (default 111).
	ClientPortmapPort int
	// Callback overrides how GRANTED reaches a client (tests).
	Callback Callback
	// StateFile is where the locks held upstream for our clients are
	// kept, so that a restarted server has them reclaimed (see
	// recover.go). "" keeps no state: after a restart the upstream still
	// holds the previous run's locks and nobody can reclaim them.
	StateFile string
	// GracePeriod is how long after a restart with locks in the state
	// file only reclaims are served (default 90s, as lockd's).
	GracePeriod time.Duration
	// Notify overrides how SM_NOTIFY reaches a client host after a
	// restart (tests). The default asks the host's portmapper (port
	// ClientPortmapPort) for NSM v1 on TCP.
	Notify func(ctx context.Context, clientIP string, args *NotifyArgs) error
	// UpstreamIPs are the addresses of each volume's upstream host: an
	// SM_NOTIFY from one of them says that upstream rebooted (and lost
	// our locks), and is relayed to the clients holding locks there so
	// they reclaim them (see recover.go). To receive it, the upstream's
	// statd must reach this server's NSM through port 111 at Name.
	UpstreamIPs map[uint16][]string
	// stateFS overrides the file system of StateFile (tests).
	stateFS stateFS
	// maxRecorded overrides the bound on the state file (tests).
	maxRecorded int
	// Clock drives polling (default: the real clock).
	Clock  clockwork.Clock
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.maxRecorded == 0 {
		o.maxRecorded = maxRecorded
	}
	if o.GracePeriod == 0 {
		o.GracePeriod = 90 * time.Second
	}
	if o.ClientPortmapPort == 0 {
		o.ClientPortmapPort = 111
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first invalid field.
func (o *Options) Validate() error {
	switch {
	case o.Files == nil:
		return errors.New("nlm: Files: required")
	case o.Name == "" || len(o.Name) > MaxStr:
		return fmt.Errorf("nlm: Name: %q is empty or over %d bytes", o.Name, MaxStr)
	case o.PollInterval < 0 || o.CallTimeout < 0 || o.GracePeriod < 0:
		return errors.New("nlm: PollInterval, CallTimeout, GracePeriod: negative")
	case o.ClientPortmapPort < 0 || o.ClientPortmapPort > 65535:
		return fmt.Errorf("nlm: ClientPortmapPort: %d out of range", o.ClientPortmapPort)
	}
	return nil
}
