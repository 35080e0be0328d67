package main

import (
	"fmt"
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

// raiseFileLimit lifts this process's soft open-file limit to the hard
// one: a fleet holds a socket per simulated connection. Go's runtime
// raises it too, but restores the old soft limit for children unless the
// program calls Setrlimit itself; having called it, the server this
// process starts inherits the raised limit as well.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", lim.Max, err)
	}
	return nil
}
