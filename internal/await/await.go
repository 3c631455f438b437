package await

import (
	"testing"
	"time"
)

// Deadline is how long Until waits before failing the test.
const Deadline = 60 * time.Second

// Until polls cond until it returns true, or fails t with "waited <d> for
// <what>" after Deadline.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Deadline, what, cond)
}

// Within is Until with an explicit deadline, for waits whose bound is part
// of the behaviour under test (a timeout that must fire).
func Within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(d, cond) {
		t.Fatalf("waited %v for %s", d, what)
	}
}

// Poll polls cond until it returns true (true) or d passes (false). It is
// for callers that report the failure themselves, such as a goroutine that
// must not call t.Fatal.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	pause := 100 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(pause)
		if pause < 10*time.Millisecond {
			pause *= 2
		}
	}
	return true
}

// Recv waits for a value on ch, failing t with "waited <d> for <what>" after
// Deadline.
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(Deadline)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("waited %v for %s", Deadline, what)
		panic("unreachable")
	}
}
