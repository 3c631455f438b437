package bench

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// The progress line: on a terminal it is rewritten in place every
// ProgressEvery (250ms); elsewhere a line is printed every ProgressEvery
// (10s), so short runs print nothing.

const progressWidth = 100

// progressf prints a status line (in place on a terminal).
func (o *Options) progressf(format string, args ...any) {
	if o.Progress == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	if o.ProgressTTY {
		fmt.Fprintf(o.Progress, "\r%-*s", progressWidth, truncate(line, progressWidth))
	} else {
		fmt.Fprintln(o.Progress, line)
	}
}

// progressDone clears the line on a terminal.
func (o *Options) progressDone() {
	if o.Progress != nil && o.ProgressTTY {
		fmt.Fprintf(o.Progress, "\r%s\r", strings.Repeat(" ", progressWidth))
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// startProgress reports sh until the returned stop is called; stop waits for
// the reporting goroutine.
func (o *Options) startProgress(name string, sh *shared) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(sh.started)
				ops, b := sh.ops.Load(), sh.rbytes.Load()+sh.wbytes.Load()
				line := fmt.Sprintf("%s: %s: %d ops (%.0f/s)", o.Label, name, ops, float64(ops)/el.Seconds())
				if b > 0 {
					line += fmt.Sprintf(", %s (%.1f MB/s)", fmtBytes(b), float64(b)/1e6/el.Seconds())
				}
				o.progressf("%s, %v", line, el.Truncate(100*time.Millisecond))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		o.progressDone()
	}
}
