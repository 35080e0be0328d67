//go:build unix

package main

import (
	"os"
	"syscall"
)

// killSelf ends the helper child by SIGKILL, as an OOM killer would.
func killSelf() int {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	return 99 // only reached if the signal did not kill us; the test fails on it
}
