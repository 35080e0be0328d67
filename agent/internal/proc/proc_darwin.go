//go:build darwin

package proc

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// macOS has no /proc: what proc_linux.go reads from files comes from
// sysctl here. kern.proc.pid and kern.proc.all give struct kinfo_proc
// (start time, state, process group); kern.procargs2 gives a process's
// arguments and environment, for processes of the caller's own user.

// sZOMB is kinfo_proc's p_stat for a process that has exited and not been
// reaped (SZOMB in <sys/proc.h>; golang.org/x/sys/unix does not export it).
const sZOMB = 5

// kinfo reads one process's kinfo_proc; a PID with no process is an error.
func kinfo(pid int) (*unix.KinfoProc, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return nil, err
	}
	if int(k.Proc.P_pid) != pid {
		return nil, errors.New("sysctl kern.proc.pid answered for another process")
	}
	return k, nil
}

// startTime is when the process was forked, in microseconds since the
// epoch (darwinTicks): a PID the kernel hands to a new process gets a new
// start time, which is how a recorded PID is told from a reused one.
func startTime(pid int) (uint64, error) {
	k, err := kinfo(pid)
	if err != nil {
		return 0, err
	}
	return darwinTicks(k.Proc.P_starttime.Sec, k.Proc.P_starttime.Usec), nil
}

// sameProcess reports whether pid is still the process that started at
// ticks, and alive (not a zombie).
func sameProcess(pid int, ticks uint64) bool {
	k, err := kinfo(pid)
	return err == nil && k.Proc.P_stat != sZOMB &&
		darwinTicks(k.Proc.P_starttime.Sec, k.Proc.P_starttime.Usec) == ticks
}

// stillRunning is sameProcess: identity is as cheap to check as on Linux.
func stillRunning(pid int, ticks uint64) bool { return sameProcess(pid, ticks) }

// groupAlive reports whether a live (not zombie) process is left in the
// group. Should the process table be unreadable, the group counts as
// alive: anyInGroup already saw it, and a stop then waits for its grace
// period and SIGKILLs rather than report a live group gone.
func groupAlive(pgid int) bool {
	if !anyInGroup(pgid) {
		return false
	}
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return true
	}
	for i := range procs {
		if int(procs[i].Eproc.Pgid) == pgid && procs[i].Proc.P_stat != sZOMB {
			return true
		}
	}
	return false
}

// processesOfRun lists live processes whose environment carries
// ARGUS_RUN_ID=runID: every process of a run, including those that left
// its process group. The kernel shows a process's environment only to its
// own user (or root), so other users' processes are not even asked about.
func processesOfRun(runID string) []int {
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil
	}
	entry := EnvRunID + "=" + runID
	self, euid := os.Getpid(), os.Geteuid()
	var pids []int
	for i := range procs {
		k := &procs[i]
		pid := int(k.Proc.P_pid)
		if pid <= 1 || pid == self || k.Proc.P_stat == sZOMB || (euid != 0 && int(k.Eproc.Ucred.Uid) != euid) {
			continue
		}
		b, err := procArgs2(pid)
		if err != nil {
			continue // gone, exiting, or not ours
		}
		if _, env, err := parseProcArgs2(b); err == nil && envHas(env, entry) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procArgs2 reads kern.procargs2, retrying EIO: the kernel's answer while
// the process is mid-fork, mid-exec or mid-exit, which passes at once.
// Missing a run's process here could leave it out of a stop's sweep.
func procArgs2(pid int) ([]byte, error) {
	b, err := unix.SysctlRaw("kern.procargs2", pid)
	for try := 0; try < 3 && errors.Is(err, unix.EIO); try++ {
		time.Sleep(time.Millisecond)
		b, err = unix.SysctlRaw("kern.procargs2", pid)
	}
	return b, err
}

// groupLeader picks, among a run's processes, the one leading its group.
func groupLeader(pids []int) int {
	for _, pid := range pids {
		if k, err := kinfo(pid); err == nil && int(k.Eproc.Pgid) == pid {
			return pid
		}
	}
	if len(pids) > 0 {
		return pids[0]
	}
	return 0
}
