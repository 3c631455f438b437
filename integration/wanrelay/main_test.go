package wanrelay

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain ends the package's tests with a goroutine-leak check.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
