package await

import (
	"go.uber.org/goleak"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Second, func() bool { n++; return n == 3 }) {
		t.Fatal("Poll = false; want true once the condition holds")
	}
	if Poll(5*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll = true for a condition that never holds; want false at the deadline")
	}
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Recv(t, "a value", ch); got != 7 {
		t.Fatalf("Recv = %d; want 7", got)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
