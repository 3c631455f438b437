package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics maps a metric name to the sum of its samples over every label
// set, from the Prometheus text exposition format.
type Metrics map[string]float64

// maxMetricsBytes bounds a scraped exposition.
const maxMetricsBytes = 16 << 20

// ParseMetrics reads the Prometheus text format (version 0.0.4) and sums the
// samples of each metric name across label sets. Comments, HELP and TYPE
// lines are skipped; a line that is not a sample is an error naming it.
// Histogram and summary series keep their suffixed names (_bucket, _sum,
// _count).
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := make(Metrics)
	sc := bufio.NewScanner(io.LimitReader(r, maxMetricsBytes))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		name, v, err := parseSample(text)
		if err != nil {
			return nil, fmt.Errorf("bench: metrics line %d: %w", line, err)
		}
		m[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: read metrics: %w", err)
	}
	return m, nil
}

// parseSample splits `name{labels} value [timestamp]`.
func parseSample(s string) (string, float64, error) {
	i := strings.IndexAny(s, "{ \t")
	if i <= 0 {
		return "", 0, fmt.Errorf("no value in %q", s)
	}
	name, rest := s[:i], s[i:]
	if rest[0] == '{' {
		end, err := labelsEnd(rest)
		if err != nil {
			return "", 0, fmt.Errorf("%w in %q", err, s)
		}
		rest = rest[end:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return "", 0, fmt.Errorf("want a value and an optional timestamp in %q", s)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", 0, fmt.Errorf("bad value in %q: %w", s, err)
	}
	return name, v, nil
}

// labelsEnd returns the index just past the '}' closing the label set that
// s starts with, honouring quoted values and their backslash escapes.
func labelsEnd(s string) (int, error) {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '}':
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated label set")
}

// Sub returns m - old for every name in m (a name missing from old counts
// from zero). NaN results (from NaN samples) are dropped.
func (m Metrics) Sub(old Metrics) Metrics {
	d := make(Metrics, len(m))
	for k, v := range m {
		if x := v - old[k]; !math.IsNaN(x) {
			d[k] = x
		}
	}
	return d
}

// Scrape fetches and parses url, within 5s.
func Scrape(ctx context.Context, url string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: scrape %s: %s", url, resp.Status)
	}
	m, err := ParseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape %s: %w", url, err)
	}
	return m, nil
}
