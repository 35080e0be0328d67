//go:build unix

package proc

import (
	"errors"
	"os/exec"
	"syscall"
)

// prepareRun makes the run the leader of a new session and so of a new
// process group (pgid = pid): it outlives the agent, no terminal signal
// reaches it, and the whole tree can be signalled at once. cmdLine is
// Windows' raw command line and always empty here (see shellCommand).
func prepareRun(cmd *exec.Cmd, cmdLine string) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return nil
}

// afterStart has nothing to do on Unix: the session made by prepareRun is
// all a run needs. (Windows puts the run in its job object here.)
func afterStart(cmd *exec.Cmd, runID string) error { return nil }

// DetachedAttr is how a helper that must outlive the agent as a run does
// (a run's supervisor) is started: in a session of its own, so no
// terminal signal, and no signal to the agent's process group, reaches it.
func DetachedAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// HoldRun has nothing to do on Unix: a run is found by its process group
// and tags, which need no handle. (Windows keeps its job's name alive.)
func HoldRun(runID string) {}

// runTarget decides what a stop may signal. The group, by its leader's
// PID, only while that PID provably is still the run (the agent's own
// unreaped child, or a matching start time): a recorded PID the kernel
// has handed to someone else is never signalled. Otherwise only processes
// that carry the run's ARGUS_RUN_ID.
func runTarget(ref Ref) (*target, error) {
	if ref.Child || sameProcess(ref.Leader.PID, ref.Leader.StartTime) {
		return &target{
			signal: func(s syscall.Signal) { _ = signalGroup(ref.Leader.Group, s) },
			alive:  groupWatch(ref.Leader.Group),
		}, nil
	}
	if stillRunning(ref.Leader.PID, ref.Leader.StartTime) {
		return nil, errors.New("cannot verify that the recorded PID is still this run on this platform; not signalling it")
	}
	if len(processesOfRun(ref.RunID)) == 0 {
		return nil, nil
	}
	return &target{
		signal: func(s syscall.Signal) {
			for _, pid := range processesOfRun(ref.RunID) {
				_ = signalPID(pid, s)
			}
		},
		alive: func() bool { return len(processesOfRun(ref.RunID)) > 0 },
	}, nil
}

// leftInRun counts the run's processes still alive: those tagged with its
// id, in its group or not, and at least one while its group has a member
// that shed the tag.
func leftInRun(leader Process, runID string) int {
	n := len(processesOfRun(runID))
	if n == 0 && groupAlive(leader.Group) {
		n = 1
	}
	return n
}

// leftoverTarget reaches what a run left when its leader ended: its group
// (the caller reaped the leader, so the id is still the run's while the
// group has members) and every process tagged with its id.
func leftoverTarget(leader Process, runID string) *target {
	return &target{
		signal: func(s syscall.Signal) {
			if anyInGroup(leader.Group) {
				_ = signalGroup(leader.Group, s)
			}
			for _, pid := range processesOfRun(runID) {
				_ = signalPID(pid, s)
			}
		},
		alive: func() bool { return groupAlive(leader.Group) || len(processesOfRun(runID)) > 0 },
	}
}

// killStragglers SIGKILLs the run's processes that left its group but
// still carry its ARGUS_RUN_ID, and reports whether there were any.
func killStragglers(runID string) bool {
	killed := false
	for _, pid := range processesOfRun(runID) {
		if signalPID(pid, sigKILL) == nil {
			killed = true
		}
	}
	return killed
}

// groupWatch checks the kernel's view of the group on every call (one
// kill(2)) and confirms it with the zombie-aware process scan only every
// third call: a stop polls for the whole grace period and must cost
// little, yet notices a group of zombies within a few ticks.
func groupWatch(pgid int) func() bool {
	calls := 0
	return func() bool {
		if !anyInGroup(pgid) {
			return false
		}
		calls++
		return calls%3 != 0 || groupAlive(pgid)
	}
}

// signalGroup sends sig to every process of the group.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return errors.New("refusing to signal process group <= 1")
	}
	return syscall.Kill(-pgid, sig)
}

// signalPID sends sig to one process.
func signalPID(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return errors.New("refusing to signal pid <= 1")
	}
	return syscall.Kill(pid, sig)
}

// anyInGroup reports whether the kernel still knows a process of the
// group, zombies included.
func anyInGroup(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

var (
	sigTERM = syscall.SIGTERM
	sigKILL = syscall.SIGKILL
)

// exitOf turns a finished command's state into a code or a signal name.
func exitOf(ps interface{ Sys() any }) (code *int, signal string) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return nil, ""
	}
	if ws.Signaled() {
		return nil, signalName(ws.Signal())
	}
	c := ws.ExitStatus()
	return &c, ""
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	}
	return s.String()
}

// groupOf is pid's process group as the kernel has it, or pid itself
// when the process is gone.
func groupOf(pid int) int {
	if g, err := syscall.Getpgid(pid); err == nil {
		return g
	}
	return pid
}
