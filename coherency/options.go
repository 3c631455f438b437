package coherency

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
)

// Mode is a volume's coherency mode.
type Mode int

const (
	// ModeTTL serves cached attributes within an adaptive TTL, like the
	// Linux client's acregmin/acregmax and acdirmin/acdirmax.
	ModeTTL Mode = iota
	// ModeCTO is ModeTTL plus forwarding every client GETATTR upstream
	// (ForwardGetattr), so close-to-open consistency holds end to end.
	ModeCTO
	// ModeStatic never expires anything: for read-only data sets, with
	// explicit invalidation.
	ModeStatic
	numModes
)

var modeNames = [numModes]string{"ttl", "cto", "static"}

// String returns "ttl", "cto" or "static", or "Mode(n)".
func (m Mode) String() string {
	if m >= 0 && m < numModes {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses "ttl", "cto" or "static".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("coherency: parse mode %q: %w (want ttl, cto or static)", s, ErrUnknownMode)
}

// Options configure a Cache. The zero value works: ModeTTL with the Linux
// client's default attribute timeouts.
type Options struct {
	// Mode is the coherency mode; default ModeTTL.
	Mode Mode
	// AcRegMin and AcRegMax bound the attribute TTL of non-directories;
	// defaults 3s and 60s. AcDirMin and AcDirMax bound it for directories;
	// defaults 30s and 60s. Zero means the default. Ignored by ModeStatic.
	AcRegMin, AcRegMax time.Duration
	AcDirMin, AcDirMax time.Duration
	// MaxAttrs bounds the objects whose attributes are cached; default
	// 1<<18.
	MaxAttrs int
	// MaxNames bounds the cached names (positive and negative); default
	// 1<<18.
	MaxNames int
	// MaxListings bounds the directories with cached listing pages;
	// default 4096.
	MaxListings int
	// MaxListingBytes bounds the estimated memory of all listing pages;
	// default 64 MiB.
	MaxListingBytes int64
	// Clock is the clock TTLs are measured on; nil means the real clock.
	// Tests inject a fake one.
	Clock clockwork.Clock
}

func (o *Options) setDefaults() {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDur(&o.AcRegMin, 3*time.Second)
	setDur(&o.AcRegMax, 60*time.Second)
	setDur(&o.AcDirMin, 30*time.Second)
	setDur(&o.AcDirMax, 60*time.Second)
	if o.MaxAttrs == 0 {
		o.MaxAttrs = 1 << 18
	}
	if o.MaxNames == 0 {
		o.MaxNames = 1 << 18
	}
	if o.MaxListings == 0 {
		o.MaxListings = 4096
	}
	if o.MaxListingBytes == 0 {
		o.MaxListingBytes = 64 << 20
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
}

// Validate reports the first unusable field, by name.
func (o *Options) Validate() error {
	switch {
	case o.Mode < 0 || o.Mode >= numModes:
		return fmt.Errorf("coherency: option Mode: %d is not ModeTTL, ModeCTO or ModeStatic", int(o.Mode))
	case o.AcRegMin < 0:
		return fmt.Errorf("coherency: option AcRegMin: %v is negative", o.AcRegMin)
	case o.AcRegMax < 0:
		return fmt.Errorf("coherency: option AcRegMax: %v is negative", o.AcRegMax)
	case o.AcRegMin > o.AcRegMax:
		return fmt.Errorf("coherency: option AcRegMin: %v is above AcRegMax %v", o.AcRegMin, o.AcRegMax)
	case o.AcDirMin < 0:
		return fmt.Errorf("coherency: option AcDirMin: %v is negative", o.AcDirMin)
	case o.AcDirMax < 0:
		return fmt.Errorf("coherency: option AcDirMax: %v is negative", o.AcDirMax)
	case o.AcDirMin > o.AcDirMax:
		return fmt.Errorf("coherency: option AcDirMin: %v is above AcDirMax %v", o.AcDirMin, o.AcDirMax)
	case o.MaxAttrs < 1:
		return fmt.Errorf("coherency: option MaxAttrs: %d is below 1", o.MaxAttrs)
	case o.MaxNames < 1:
		return fmt.Errorf("coherency: option MaxNames: %d is below 1", o.MaxNames)
	case o.MaxListings < 1:
		return fmt.Errorf("coherency: option MaxListings: %d is below 1", o.MaxListings)
	case o.MaxListingBytes < 1:
		return fmt.Errorf("coherency: option MaxListingBytes: %d is below 1", o.MaxListingBytes)
	}
	return nil
}
