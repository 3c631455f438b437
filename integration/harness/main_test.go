package harness

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain ends the package's tests with a goroutine-leak check. Each
// go-nfs-client Target leaves its cache cleaner running forever (see
// DialNFS); that is the library's, not a leak of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/willscott/go-nfs-client/nfs.(*Target).cleanupCache"))
}
