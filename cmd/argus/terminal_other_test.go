//go:build !linux

package main

import (
	"os"
	"testing"
)

// openTerminal opens this process's terminal; where there is none the
// terminal half of the colour test cannot run here (Linux makes one).
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no terminal to test with: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
