//go:build !linux

package main

import "time"

// pause is time.Sleep where there is no nanosleep to call directly; the
// benchmarks that poll run on Linux only.
func pause(d time.Duration) { time.Sleep(d) }
