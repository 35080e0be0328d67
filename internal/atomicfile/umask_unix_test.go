//go:build unix

package atomicfile

import (
	"syscall"
	"testing"
)

// withUmask sets the process umask for the rest of the test and restores it
// afterwards. The umask is process-wide, so callers must not run in parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}
