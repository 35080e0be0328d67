//go:build !linux

package main

import (
	"syscall"
	"time"
)

// pause is time.Sleep where there is no nanosleep to call directly; the
// benchmarks that poll run on Linux only.
func pause(d time.Duration) { time.Sleep(d) }

// childAttr has nothing to add off Linux: there is no parent-death signal,
// so only a clean exit or Ctrl-C stops the children.
func childAttr() *syscall.SysProcAttr { return nil }

// runPIDs finds nothing without /proc. Nothing calls it off Linux: the
// agent benchmarks refuse to start there (startStack).
func runPIDs(string) []int { return nil }
