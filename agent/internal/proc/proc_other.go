//go:build unix && !linux && !darwin

package proc

import (
	"errors"
	"syscall"
)

// errNoProcInfo: on Unixes other than Linux and macOS (the BSDs, say) the
// agent has no process start time or environment lookup. Without them it
// refuses to signal a recorded PID it cannot tell from a reused one.
var errNoProcInfo = errors.New("process identity checks are not supported on this platform yet")

func startTime(pid int) (uint64, error) { return 0, errNoProcInfo }

func processesOfRun(runID string) []int { return nil }

func groupAlive(pgid int) bool { return anyInGroup(pgid) }

// sameProcess cannot tell a reused PID here, so it never vouches for one:
// only the agent's own unreaped children are signalled on this platform.
func sameProcess(pid int, ticks uint64) bool { return false }

// stillRunning is good enough for watching a re-attached run end, where a
// mistake delays a report but signals nothing.
func stillRunning(pid int, ticks uint64) bool { return pid > 1 && syscall.Kill(pid, 0) == nil }

func groupLeader(pids []int) int {
	if len(pids) > 0 {
		return pids[0]
	}
	return 0
}
