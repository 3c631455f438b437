// Package await is the one way tests in this repository wait for something
// to happen: poll a condition that observes the event itself, and fail the
// test at a deadline with a message naming what was awaited.
//
// It exists so that no test uses time.Sleep as synchronisation. The deadline
// is generous (a busy 2-core machine running the race detector is slow); a
// wait that reaches it is a failure, never a silent pass. Polling backs off
// from 100µs to 10ms so fast events are seen fast without burning a core.
//
// Only tests import this package; the production binary does not link it.
//
// It owns only waiting: it must not start goroutines that outlive a call,
// or know anything about what it waits for. Locks: none.
package await
