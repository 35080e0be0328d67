//go:build windows

package agent

import (
	"errors"
	"os/exec"
	"syscall"
)

// errWindows: process groups and job objects for Windows come with the
// service issue. Until then the agent registers, heartbeats and polls, and
// answers every command with this error rather than run it half-managed.
var errWindows = errors.New("running and stopping commands is not supported on Windows yet")

func newSession(cmd *exec.Cmd) error { return errWindows }

func signalGroup(pgid int, sig syscall.Signal) error { return errWindows }

func signalPID(pid int, sig syscall.Signal) error { return errWindows }

func groupAlive(pgid int) bool { return false }

var (
	sigTERM = syscall.SIGTERM
	sigKILL = syscall.SIGKILL
)

func exitOf(ps interface{ Sys() any }) (code *int, signal string) { return nil, "" }

func startTime(pid int) (uint64, error) { return 0, errWindows }

func processesOfRun(runID string) []int { return nil }

func zombie(pid int) bool { return false }

func sameProcess(pid int, ticks uint64) bool { return false }

func groupLeader(pids []int) int { return 0 }

func stillRunning(pid int, ticks uint64) bool { return false }

func groupOf(pid int) int { return pid }

func anyInGroup(pgid int) bool { return false }
