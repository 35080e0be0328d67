//go:build !linux

package main

import "time"

// pause is time.Sleep where there is no nanosleep to call directly; the
// benchmarks that poll run on Linux only.
func pause(d time.Duration) { time.Sleep(d) }

// runPIDs finds nothing without /proc. Nothing calls it off Linux: the
// agent benchmarks refuse to start there (startStack).
func runPIDs(string) []int { return nil }

// raiseFileLimit does nothing: the fleet benchmark runs on Linux only.
func raiseFileLimit() error { return nil }
