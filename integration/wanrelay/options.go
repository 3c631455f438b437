package wanrelay

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// DefaultMaxBuffered is the default bound on bytes read but not yet
// delivered, per direction of each connection.
const DefaultMaxBuffered = 64 << 20

// Options configures a Relay. The zero value is valid except for Target.
type Options struct {
	// Listen is the address to listen on. Default "127.0.0.1:0".
	Listen string
	// Target is the host:port every accepted connection is relayed to.
	// Required.
	Target string
	// Delay is the one-way delay applied in each direction, so a round trip
	// costs 2×Delay. Zero relays without delay. Change it later with
	// Relay.SetDelay.
	Delay time.Duration
	// Rate caps each direction of each connection at this many bytes per
	// second. Zero means unlimited.
	Rate int64
	// MaxBuffered bounds the bytes read but not yet delivered, per direction
	// of each connection; when it is reached the relay stops reading.
	// Default DefaultMaxBuffered (64 MiB).
	MaxBuffered int64
	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.MaxBuffered == 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first invalid field. Empty fields that have defaults
// are valid.
func (o *Options) Validate() error {
	if o.Target == "" {
		return fmt.Errorf("wanrelay: Options.Target is required")
	}
	if _, port, err := net.SplitHostPort(o.Target); err != nil {
		return fmt.Errorf("wanrelay: Options.Target %q: %w", o.Target, err)
	} else if port == "" {
		return fmt.Errorf("wanrelay: Options.Target %q: missing port", o.Target)
	}
	if o.Listen != "" {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			return fmt.Errorf("wanrelay: Options.Listen %q: %w", o.Listen, err)
		}
	}
	if o.Delay < 0 {
		return fmt.Errorf("wanrelay: Options.Delay %v is negative", o.Delay)
	}
	if o.Rate < 0 {
		return fmt.Errorf("wanrelay: Options.Rate %d is negative", o.Rate)
	}
	if o.MaxBuffered < 0 {
		return fmt.Errorf("wanrelay: Options.MaxBuffered %d is negative", o.MaxBuffered)
	}
	return nil
}
