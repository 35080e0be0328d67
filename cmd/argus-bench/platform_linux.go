package main

import (
	"syscall"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
)

// pause sleeps for d with the kernel's own timer. time.Sleep rounds short
// sleeps up to about a millisecond on Linux (the runtime waits in
// epoll_pwait, whose timeout is in milliseconds), which would add up to a
// millisecond to every latency measured by polling; nanosleep(2) blocks
// this thread for d plus the timer slack (50µs by default).
func pause(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		// interrupted by a signal: sleep what is left
	}
}

// runPIDs lists the live processes of a run (testenv.RunPIDs, which reads
// /proc and so exists on Linux only).
func runPIDs(runID string) []int { return testenv.RunPIDs(runID) }
