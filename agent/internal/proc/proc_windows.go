//go:build windows

package proc

import (
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows process control. A run is started in a new process group with
// its own windowless console (runCreationFlags) and put in a job object of
// its own (job_windows.go). Stop sends CTRL_BREAK_EVENT to the run's
// process group (ctrlbreak_windows.go), waits the grace period, then
// terminates the job: the whole tree. A PID is told from a reused one by
// its process creation time, kept as Process.StartTime.

// The constants in winproc.go are Windows' own: a mismatch fails to compile
// (each index is out of range unless the two are equal).
var (
	_ = [1]struct{}{}[windows.CREATE_NEW_PROCESS_GROUP-winCreateNewProcessGroup]
	_ = [1]struct{}{}[windows.CREATE_NO_WINDOW-winCreateNoWindow]
	_ = [1]struct{}{}[windows.CREATE_BREAKAWAY_FROM_JOB-winCreateBreakawayFromJob]
	_ = [1]struct{}{}[windows.DETACHED_PROCESS-winDetachedProcess]
	_ = [1]struct{}{}[windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK-winLimitBreakawayOK]
	_ = [1]struct{}{}[windows.JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK-winLimitSilentBreakawayOK]
)

// sigTERM and sigKILL are what a stop asks for; signalRun maps them to a
// CTRL_BREAK and to terminating the job.
var (
	sigTERM = syscall.SIGTERM
	sigKILL = syscall.SIGKILL
)

// prepareRun sets how the run is created (runCreationFlags) and, for a
// recorded shell string, cmd.exe's raw command line (windowsShell).
func prepareRun(cmd *exec.Cmd, cmdLine string) error {
	inAJob, limits := agentJob()
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: runCreationFlags(inAJob, limits), CmdLine: cmdLine}
	return nil
}

// DetachedAttr is how a helper that must outlive the agent as a run does
// (a run's supervisor) is started (detachedCreationFlags).
func DetachedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: detachedCreationFlags(agentJob())}
}

// agentJob reports whether the agent itself runs in a job and that job's
// limit flags, which say whether a run may break away from it.
func agentJob() (bool, uint32) {
	in, err := inJob(windows.CurrentProcess(), 0)
	if err != nil || !in {
		return false, 0
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	// Job handle 0: the job of the calling process.
	if windows.QueryInformationJobObject(0, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil) != nil {
		return true, 0
	}
	return true, info.BasicLimitInformation.LimitFlags
}

// openSame opens pid with access (plus what the check needs) if it still
// is the process created at ticks and has not exited. While the handle is
// open Windows cannot give the PID to another process, so what is done
// with it reaches the run or nothing.
func openSame(pid int, ticks uint64, access uint32) (windows.Handle, bool) {
	if pid <= 0 || uint64(pid) > 1<<32-1 {
		return 0, false
	}
	h, err := windows.OpenProcess(access|windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return 0, false
	}
	if t, err := creationTicks(h); err != nil || t != ticks || !running(h) {
		windows.CloseHandle(h)
		return 0, false
	}
	return h, true
}

// creationTicks is the process's creation time (GetProcessTimes).
func creationTicks(h windows.Handle) (uint64, error) {
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return 0, err
	}
	return filetimeTicks(created.LowDateTime, created.HighDateTime), nil
}

// running: the process object exists until its last handle closes, even
// after the process has exited; only an unsignalled one is running.
func running(h windows.Handle) bool {
	ev, err := windows.WaitForSingleObject(h, 0)
	return err == nil && ev == uint32(windows.WAIT_TIMEOUT)
}

// startTime is the process's creation time as a FILETIME count.
func startTime(pid int) (uint64, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return 0, err
	}
	defer windows.CloseHandle(h)
	return creationTicks(h)
}

// sameProcess reports whether pid is still the process created at ticks,
// and running.
func sameProcess(pid int, ticks uint64) bool {
	h, ok := openSame(pid, ticks, 0)
	if ok {
		windows.CloseHandle(h)
	}
	return ok
}

// stillRunning is sameProcess: identity is cheap to check.
func stillRunning(pid int, ticks uint64) bool { return sameProcess(pid, ticks) }

// processesOfRun lists the processes in the run's job: all of the run,
// wherever in its tree, and nothing else.
func processesOfRun(runID string) []int { return jobPIDs(runID) }

// groupLeader picks the run's first process, the one created earliest: the
// one the agent started, whose PID is the process group's id.
func groupLeader(pids []int) int {
	best, bestTicks := 0, uint64(0)
	for _, pid := range pids {
		if t, err := startTime(pid); err == nil && (best == 0 || t < bestTicks) {
			best, bestTicks = pid, t
		}
	}
	if best == 0 && len(pids) > 0 {
		return pids[0]
	}
	return best
}

// groupOf: a process group's id is its leader's PID, and the run's leader
// was made one by CREATE_NEW_PROCESS_GROUP.
func groupOf(pid int) int { return pid }

// exitOf turns a finished command's state into a code or a signal name
// (windowsExit).
func exitOf(ps interface{ Sys() any }) (code *int, signal string) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return nil, ""
	}
	return windowsExit(ws.ExitCode)
}

// runTarget is the run's job, found by run ID, which holds exactly the
// run's processes whatever became of the leader; without a job (a run an
// agent could not finish starting), the leader alone while it provably is
// the run.
func runTarget(ref Ref) (*target, error) {
	t := &target{
		signal: func(s syscall.Signal) { signalRun(ref, s) },
		alive:  func() bool { return runAlive(ref) },
	}
	if !t.alive() {
		return nil, nil
	}
	return t, nil
}

func runAlive(ref Ref) bool {
	if alive, ok := runJobActive(ref.RunID); ok {
		return alive
	}
	return sameProcess(ref.Leader.PID, ref.Leader.StartTime)
}

// signalRun: SIGTERM is a CTRL_BREAK to the leader's process group, sent
// while a handle to the leader holds its PID; SIGKILL terminates the job.
func signalRun(ref Ref, s syscall.Signal) {
	if s == sigKILL {
		if terminateRunJob(ref.RunID) {
			return
		}
		if h, ok := openSame(ref.Leader.PID, ref.Leader.StartTime, windows.PROCESS_TERMINATE); ok {
			_ = windows.TerminateProcess(h, jobKillExitCode)
			windows.CloseHandle(h)
		}
		return
	}
	h, same := openSame(ref.Leader.PID, ref.Leader.StartTime, 0)
	if same {
		defer windows.CloseHandle(h)
	}
	// An unreaped child's PID is held by the agent's own handle to it.
	if group, ok := ctrlBreakGroup(ref.Leader.PID, same || ref.Child); ok {
		_ = sendCtrlBreak(group)
	}
}

// killStragglers terminates what is left in the run's job after a stop.
func killStragglers(runID string) bool { return terminateRunJob(runID) }

// leftoverTarget reaches what a run left when its leader ended: its job.
func leftoverTarget(leader Process, runID string) *target {
	t, _ := runTarget(Ref{RunID: runID, Leader: leader, Child: true})
	if t == nil {
		return &target{signal: func(syscall.Signal) {}, alive: func() bool { return false }}
	}
	return t
}

// leftInRun counts the processes still in the run's job.
func leftInRun(leader Process, runID string) int { return len(jobPIDs(runID)) }
