package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Result is the outcome of one workload against one target.
type Result struct {
	Workload string
	Label    string // the target configuration ("direct-far")

	Ops        int64 // timed ops completed
	Calls      int64 // NFS calls the client made during the timed part
	Items      int64 // directory entries seen (list, walk)
	ReadBytes  int64 // READ payload bytes
	WriteBytes int64 // WRITE payload bytes

	Duration       time.Duration
	P50, P99, Mean time.Duration // per op
	Max            time.Duration

	// Upstream holds the proxy's counter deltas; nil without MetricsURL.
	Upstream *Upstream
}

// Upstream is what the proxy did upstream during a timed run. A counter the
// endpoint does not expose is not Have*, and its ratio is not reported
// (rather than reported as zero, which would look like a perfect cache).
type Upstream struct {
	Calls         float64 // delta of the upstream calls counter
	ReadBytes     float64 // delta of the upstream read bytes counter
	HaveCalls     bool
	HaveReadBytes bool
}

// Bytes is the payload moved either way.
func (r *Result) Bytes() int64 { return r.ReadBytes + r.WriteBytes }

// MBps is payload throughput in 10⁶ bytes per second.
func (r *Result) MBps() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes()) / 1e6 / r.Duration.Seconds()
}

// OpsPerSec is the op rate.
func (r *Result) OpsPerSec() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Duration.Seconds()
}

// UpstreamCallsPerCall is upstream calls per client NFS call (1 is pure
// pass-through, 0 is all answered by the proxy); ok is false without
// metrics or calls.
func (r *Result) UpstreamCallsPerCall() (float64, bool) {
	if r.Upstream == nil || !r.Upstream.HaveCalls || r.Calls == 0 {
		return 0, false
	}
	return r.Upstream.Calls / float64(r.Calls), true
}

// UpstreamCallsPerOp is upstream calls per op.
func (r *Result) UpstreamCallsPerOp() (float64, bool) {
	if r.Upstream == nil || !r.Upstream.HaveCalls || r.Ops == 0 {
		return 0, false
	}
	return r.Upstream.Calls / float64(r.Ops), true
}

// UpstreamBytesPerByte is upstream READ bytes per client READ byte; ok is
// false without metrics or reads.
func (r *Result) UpstreamBytesPerByte() (float64, bool) {
	if r.Upstream == nil || !r.Upstream.HaveReadBytes || r.ReadBytes == 0 {
		return 0, false
	}
	return r.Upstream.ReadBytes / float64(r.ReadBytes), true
}

// jsonResult is Result with units in the field names.
type jsonResult struct {
	Workload             string   `json:"workload"`
	Label                string   `json:"label"`
	Ops                  int64    `json:"ops"`
	Calls                int64    `json:"calls"`
	Items                int64    `json:"items,omitempty"`
	ReadBytes            int64    `json:"read_bytes"`
	WriteBytes           int64    `json:"write_bytes"`
	DurationSec          float64  `json:"duration_s"`
	MBps                 float64  `json:"mb_per_s"`
	OpsPerSec            float64  `json:"ops_per_s"`
	P50Ms                float64  `json:"p50_ms"`
	P99Ms                float64  `json:"p99_ms"`
	MeanMs               float64  `json:"mean_ms"`
	MaxMs                float64  `json:"max_ms"`
	UpstreamCalls        *float64 `json:"upstream_calls,omitempty"`
	UpstreamReadBytes    *float64 `json:"upstream_read_bytes,omitempty"`
	UpstreamCallsPerCall *float64 `json:"upstream_calls_per_call,omitempty"`
	UpstreamCallsPerOp   *float64 `json:"upstream_calls_per_op,omitempty"`
	UpstreamBytesPerByte *float64 `json:"upstream_bytes_per_byte,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func opt(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &v
}

// MarshalJSON writes durations in seconds and milliseconds and the derived
// rates.
func (r Result) MarshalJSON() ([]byte, error) {
	j := jsonResult{
		Workload: r.Workload, Label: r.Label, Ops: r.Ops, Calls: r.Calls, Items: r.Items,
		ReadBytes: r.ReadBytes, WriteBytes: r.WriteBytes, DurationSec: r.Duration.Seconds(),
		MBps: r.MBps(), OpsPerSec: r.OpsPerSec(),
		P50Ms: ms(r.P50), P99Ms: ms(r.P99), MeanMs: ms(r.Mean), MaxMs: ms(r.Max),
		UpstreamCallsPerCall: opt(r.UpstreamCallsPerCall()),
		UpstreamCallsPerOp:   opt(r.UpstreamCallsPerOp()),
		UpstreamBytesPerByte: opt(r.UpstreamBytesPerByte()),
	}
	if u := r.Upstream; u != nil {
		j.UpstreamCalls, j.UpstreamReadBytes = opt(u.Calls, u.HaveCalls), opt(u.ReadBytes, u.HaveReadBytes)
	}
	return json.Marshal(j)
}

// Report is the outcome of one Run.
type Report struct {
	Label   string   `json:"label"`
	Target  Target   `json:"target"`
	Params  Params   `json:"params"`
	Results []Result `json:"results"`
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// fmtBytes prints a byte count in binary units ("256MiB", "1.5KiB").
func fmtBytes(n int64) string {
	if n == 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := fmt.Sprintf("%.1f", v)
	if u == 0 || strings.HasSuffix(s, ".0") {
		s = fmt.Sprintf("%.0f", v)
	}
	return s + units[u]
}

func fmtRatio(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtCount(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func fmtRate(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// tableHeader and row are shared by the text and Markdown tables.
var tableHeader = []string{"workload", "config", "ops", "calls", "items", "bytes", "time", "MB/s", "ops/s", "p50", "p99", "up calls/call", "up B/B"}

func row(r *Result) []string {
	return []string{
		r.Workload, r.Label, fmtCount(r.Ops), fmtCount(r.Calls), fmtCount(r.Items), fmtBytes(r.Bytes()),
		fmtDur(r.Duration), fmtRate(r.MBps()), fmtRate(r.OpsPerSec()), fmtDur(r.P50), fmtDur(r.P99),
		fmtRatio(r.UpstreamCallsPerCall()), fmtRatio(r.UpstreamBytesPerByte()),
	}
}

// WriteTable writes results as an aligned text table.
func WriteTable(w io.Writer, results []Result) error {
	rows := make([][]string, len(results))
	for i := range results {
		rows[i] = row(&results[i])
	}
	return writeAligned(w, tableHeader, rows, 2)
}

// writeAligned writes a table with columns separated by two spaces, the
// columns before rightFrom left-aligned and the others right-aligned.
func writeAligned(w io.Writer, header []string, rows [][]string, rightFrom int) error {
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < rightFrom {
				b.WriteString(c)
				if i < len(r)-1 {
					b.WriteString(pad)
				}
			} else {
				b.WriteString(pad)
				b.WriteString(c)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdownTable writes a GitHub-flavoured Markdown table.
func writeMarkdownTable(w io.Writer, header []string, rows [][]string, rightFrom int) {
	fmt.Fprintf(w, "| %s |\n|", strings.Join(header, " | "))
	for i := range header {
		if i >= rightFrom {
			fmt.Fprint(w, "---:|")
		} else {
			fmt.Fprint(w, "---|")
		}
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}
