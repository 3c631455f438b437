package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Target is the NFSv3 server to drive.
type Target struct {
	Host      string // host name or address
	NFSPort   int    // 0: ask the server's portmapper
	MountPort int    // 0: ask the server's portmapper
	Export    string // path to MNT, e.g. "/export"

	// MetricsURL is the proxy's Prometheus endpoint
	// ("http://127.0.0.1:9464/metrics"). Empty: no upstream ratios.
	MetricsURL string
}

// Validate reports the first invalid field.
func (t *Target) Validate() error {
	switch {
	case t.Host == "":
		return errors.New("bench: Target.Host: empty")
	case t.Export == "" || t.Export[0] != '/':
		return fmt.Errorf("bench: Target.Export: %q is not an absolute path", t.Export)
	case t.NFSPort < 0 || t.NFSPort > 65535:
		return fmt.Errorf("bench: Target.NFSPort: %d out of range", t.NFSPort)
	case t.MountPort < 0 || t.MountPort > 65535:
		return fmt.Errorf("bench: Target.MountPort: %d out of range", t.MountPort)
	}
	return nil
}

// Params sizes the workloads. The zero value of every field means its
// default (in parentheses).
type Params struct {
	// Size is the bytes seqread reads and seqwrite writes (256 MiB), split
	// over SeqFiles files.
	Size int64 `json:"size"`
	// BlockSize is the READ/WRITE size of seqread and seqwrite (1 MiB).
	BlockSize int `json:"block_size"`
	// SeqFiles is the number of files of seqread and seqwrite (1). With one
	// file the workers share it: Concurrency READs in flight, in order, like
	// a client's readahead. With more, each worker reads whole files.
	SeqFiles int `json:"seq_files"`

	// RandReads is the number of randread READs (2000), of RandIO bytes
	// (4 KiB) at aligned random offsets in a file of RandFileSize (64 MiB).
	RandReads    int   `json:"rand_reads"`
	RandIO       int   `json:"rand_io"`
	RandFileSize int64 `json:"rand_file_size"`

	// Files is the number of files stat stats (2000).
	Files int `json:"files"`

	// Entries is the size of the directory list lists (5000); Listings is
	// how many full listings it makes (8). DirCount and MaxCount are the
	// READDIRPLUS counts (4 KiB and 32 KiB: Linux asks for dircount =
	// maxcount/8).
	Entries  int    `json:"entries"`
	Listings int    `json:"listings"`
	DirCount uint32 `json:"dircount"`
	MaxCount uint32 `json:"maxcount"`

	// TreeEntries is the approximate number of entries of the tree walk
	// walks (2000): two levels of directories with files in the leaves.
	TreeEntries int `json:"tree_entries"`

	// SmallFiles is the number of files smallfile creates, writes
	// (SmallFileSize, 4 KiB, FILE_SYNC) and removes (500).
	SmallFiles    int `json:"small_files"`
	SmallFileSize int `json:"small_file_size"`

	// MixedFiles files of MixedFileSize (32 × 1 MiB) are the data set of
	// mixed, which reads and writes MixedIO bytes (64 KiB) per op.
	MixedFiles    int   `json:"mixed_files"`
	MixedFileSize int64 `json:"mixed_file_size"`
	MixedIO       int   `json:"mixed_io"`

	// Concurrency is the number of workers (4).
	Concurrency int `json:"concurrency"`
	// Duration bounds every timed run (0: none); mixed, which has no end of
	// its own, runs for Duration or 5s.
	Duration time.Duration `json:"duration"`
	// MaxOps bounds the ops of every timed run (0: none).
	MaxOps int64 `json:"max_ops,omitempty"`

	// Conns is the number of TCP connections of the client (1, like a
	// Linux mount without nconnect).
	Conns int `json:"conns"`
	// SetupConcurrency is the number of calls in flight while creating data
	// sets (8).
	SetupConcurrency int `json:"-"`
	// Dir is the directory under the export root holding the data sets
	// ("nfsbench").
	Dir string `json:"dir"`
}

// Default durations.
const (
	DefaultMixedDuration = 5 * time.Second
	pageSize             = 4096
)

func (p *Params) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def64(&p.Size, 256<<20)
	def(&p.BlockSize, 1<<20)
	def(&p.SeqFiles, 1)
	def(&p.RandReads, 2000)
	def(&p.RandIO, 4096)
	def64(&p.RandFileSize, 64<<20)
	def(&p.Files, 2000)
	def(&p.Entries, 5000)
	def(&p.Listings, 8)
	if p.MaxCount == 0 {
		p.MaxCount = 32 << 10
	}
	if p.DirCount == 0 {
		p.DirCount = p.MaxCount / 8
	}
	def(&p.TreeEntries, 2000)
	def(&p.SmallFiles, 500)
	def(&p.SmallFileSize, 4096)
	def(&p.MixedFiles, 32)
	def64(&p.MixedFileSize, 1<<20)
	def(&p.MixedIO, 64<<10)
	def(&p.Concurrency, 4)
	def(&p.Conns, 1)
	def(&p.SetupConcurrency, 8)
	if p.Dir == "" {
		p.Dir = "nfsbench"
	}
}

// Validate reports the first invalid field. Call it after defaults are set
// (Run does both).
func (p *Params) Validate() error {
	aligned := func(name string, v int64) error {
		if v <= 0 || v%pageSize != 0 {
			return fmt.Errorf("bench: Params.%s: %d is not a positive multiple of %d", name, v, pageSize)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"Size", p.Size}, {"BlockSize", int64(p.BlockSize)}, {"RandIO", int64(p.RandIO)},
		{"RandFileSize", p.RandFileSize}, {"MixedFileSize", p.MixedFileSize}, {"MixedIO", int64(p.MixedIO)},
	} {
		if err := aligned(c.name, c.v); err != nil {
			return err
		}
	}
	switch {
	case p.BlockSize > 4<<20:
		return fmt.Errorf("bench: Params.BlockSize: %d above 4 MiB", p.BlockSize)
	case p.SeqFiles < 1 || p.Size/int64(p.SeqFiles) < int64(p.BlockSize) || p.Size%(int64(p.SeqFiles)*int64(p.BlockSize)) != 0:
		return fmt.Errorf("bench: Params.SeqFiles: %d files do not split Size %d into whole blocks of %d", p.SeqFiles, p.Size, p.BlockSize)
	case p.RandIO > 4<<20 || int64(p.RandIO) > p.RandFileSize:
		return fmt.Errorf("bench: Params.RandIO: %d larger than 4 MiB or RandFileSize", p.RandIO)
	case p.MixedIO > 4<<20 || int64(p.MixedIO) > p.MixedFileSize:
		return fmt.Errorf("bench: Params.MixedIO: %d larger than 4 MiB or MixedFileSize", p.MixedIO)
	case p.SmallFileSize < 0 || p.SmallFileSize > 4<<20:
		return fmt.Errorf("bench: Params.SmallFileSize: %d not in 0..4 MiB", p.SmallFileSize)
	case p.RandReads < 0, p.Files < 0, p.Entries < 0, p.Listings < 0, p.TreeEntries < 0, p.SmallFiles < 0, p.MixedFiles < 1:
		return errors.New("bench: Params: negative count (or MixedFiles < 1)")
	case p.Files > 1e6 || p.Entries > 1e6 || p.TreeEntries > 1e6:
		return errors.New("bench: Params: Files, Entries and TreeEntries are limited to 1e6")
	case p.DirCount < 512 || p.MaxCount < 1024:
		return fmt.Errorf("bench: Params.DirCount/MaxCount: %d/%d too small", p.DirCount, p.MaxCount)
	case p.Concurrency < 1 || p.Concurrency > 1024:
		return fmt.Errorf("bench: Params.Concurrency: %d not in 1..1024", p.Concurrency)
	case p.Conns < 1 || p.Conns > 64:
		return fmt.Errorf("bench: Params.Conns: %d not in 1..64", p.Conns)
	case p.SetupConcurrency < 1 || p.SetupConcurrency > 256:
		return fmt.Errorf("bench: Params.SetupConcurrency: %d not in 1..256", p.SetupConcurrency)
	case p.Duration < 0 || p.MaxOps < 0:
		return errors.New("bench: Params.Duration/MaxOps: negative")
	case !validName(p.Dir):
		return fmt.Errorf("bench: Params.Dir: %q is not a single file name", p.Dir)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return false
		}
	}
	return true
}

// Options configures [Run].
type Options struct {
	Target Target
	// Label names the configuration in reports ("direct-far"). Default:
	// host:port.
	Label string
	// Workloads are the names to run, in order. Default: all of
	// [Workloads], in their order.
	Workloads []string
	Params    Params
	// SkipSetup assumes the data sets exist (RunMatrix creates them once,
	// directly, so a proxy under test sees none of it).
	SkipSetup bool

	// Progress receives a progress line during timed runs (nil: none).
	// With ProgressTTY the line is rewritten in place with \r; otherwise a
	// line is printed every ProgressEvery (default 10s).
	Progress      io.Writer
	ProgressTTY   bool
	ProgressEvery time.Duration

	// CallsMetric and ReadBytesMetric name the proxy's counters (summed
	// over labels). Defaults: nfscacheproxy_upstream_calls_total (or, when
	// absent, nfscacheproxy_upstream_call_duration_seconds_count) and
	// nfscacheproxy_upstream_read_bytes_total.
	CallsMetric     string
	ReadBytesMetric string

	// PrivilegedPort binds a source port below 1024 when running as root
	// (for exports marked "secure"). Default: any port.
	PrivilegedPort bool

	Logger *slog.Logger
}

// Default metric names.
const (
	DefaultCallsMetric     = "nfscacheproxy_upstream_calls_total"
	DefaultReadBytesMetric = "nfscacheproxy_upstream_read_bytes_total"
)

func (o *Options) setDefaults() {
	o.Params.setDefaults()
	if o.Label == "" {
		o.Label = fmt.Sprintf("%s:%d", o.Target.Host, o.Target.NFSPort)
	}
	if len(o.Workloads) == 0 {
		for _, w := range Workloads() {
			o.Workloads = append(o.Workloads, w.Name)
		}
	}
	if o.ProgressEvery == 0 {
		if o.ProgressTTY {
			o.ProgressEvery = 250 * time.Millisecond
		} else {
			o.ProgressEvery = 10 * time.Second
		}
	}
	if o.CallsMetric == "" {
		o.CallsMetric = DefaultCallsMetric
	}
	if o.ReadBytesMetric == "" {
		o.ReadBytesMetric = DefaultReadBytesMetric
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first invalid field. Call it after defaults are set.
func (o *Options) Validate() error {
	if err := o.Target.Validate(); err != nil {
		return err
	}
	if err := o.Params.Validate(); err != nil {
		return err
	}
	if _, err := Find(o.Workloads); err != nil {
		return err
	}
	return nil
}
