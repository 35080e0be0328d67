//go:build !linux

package testenv

import "syscall"

// orphanAttr has nothing to add where there is no parent-death signal:
// children are stopped by Stop, Kill and the tests' Cleanup.
func orphanAttr() *syscall.SysProcAttr { return nil }
