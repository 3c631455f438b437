package coherency

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  bool
	}{
		{"ttl", ModeTTL, false},
		{"cto", ModeCTO, false},
		{"static", ModeStatic, false},
		{"", 0, true},
		{"TTL", 0, true},
		{"nocache", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMode(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseMode(%q) error = %v; want error %v", tt.in, err, tt.err)
			}
			if err != nil && !errors.Is(err, ErrUnknownMode) {
				t.Errorf("ParseMode(%q) error = %v; want ErrUnknownMode", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseMode(%q) = %v; want %v", tt.in, got, tt.want)
			}
			if err == nil && got.String() != tt.in {
				t.Errorf("String() = %q; want %q", got.String(), tt.in)
			}
		})
	}
	if got, want := Mode(7).String(), "Mode(7)"; got != want {
		t.Errorf("Mode(7).String() = %q; want %q", got, want)
	}
}

func TestCauseString(t *testing.T) {
	tests := []struct {
		c    Cause
		want string
	}{
		{CauseChanged, "changed"}, {CauseWcc, "wcc"}, {CauseStale, "stale"},
		{CauseExplicit, "explicit"}, {CauseOwnOp, "own-op"}, {Cause(42), "Cause(42)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Cause(%d).String() = %q; want %q", int(tt.c), got, tt.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	var o Options
	o.setDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate of defaults: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"Mode", o.Mode, ModeTTL},
		{"AcRegMin", o.AcRegMin, 3 * time.Second},
		{"AcRegMax", o.AcRegMax, 60 * time.Second},
		{"AcDirMin", o.AcDirMin, 30 * time.Second},
		{"AcDirMax", o.AcDirMax, 60 * time.Second},
		{"MaxAttrs", o.MaxAttrs, 1 << 18},
		{"MaxNames", o.MaxNames, 1 << 18},
		{"MaxListings", o.MaxListings, 4096},
		{"MaxListingBytes", o.MaxListingBytes, int64(64 << 20)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		field string
		set   func(*Options)
	}{
		{"Mode", func(o *Options) { o.Mode = 3 }},
		{"AcRegMin", func(o *Options) { o.AcRegMin = -time.Second }},
		{"AcRegMax", func(o *Options) { o.AcRegMax = -time.Second }},
		{"AcRegMin", func(o *Options) { o.AcRegMin, o.AcRegMax = 10*time.Second, 5*time.Second }},
		{"AcDirMin", func(o *Options) { o.AcDirMin = -time.Second }},
		{"AcDirMax", func(o *Options) { o.AcDirMax = -1 }},
		{"AcDirMin", func(o *Options) { o.AcDirMin = 2 * time.Minute }},
		{"MaxAttrs", func(o *Options) { o.MaxAttrs = -1 }},
		{"MaxNames", func(o *Options) { o.MaxNames = -1 }},
		{"MaxListings", func(o *Options) { o.MaxListings = -5 }},
		{"MaxListingBytes", func(o *Options) { o.MaxListingBytes = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			var o Options
			tt.set(&o)
			_, err := New(o)
			if err == nil {
				t.Fatalf("New: got nil error; want one naming %s", tt.field)
			}
			if !strings.Contains(err.Error(), "option "+tt.field+":") {
				t.Errorf("New: got %q; want it to name option %s", err, tt.field)
			}
		})
	}
}

func TestShardCount(t *testing.T) {
	tests := []struct{ max, want int }{
		{1, 1}, {100, 1}, {2047, 1}, {2048, 2}, {5000, 4}, {1 << 18, 16}, {1 << 30, 16},
	}
	for _, tt := range tests {
		if got := shardCount(tt.max); got != tt.want {
			t.Errorf("shardCount(%d) = %d; want %d", tt.max, got, tt.want)
		}
	}
}
