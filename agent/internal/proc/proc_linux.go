//go:build linux

package proc

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// procStat is what the agent needs from /proc/PID/stat.
type procStat struct {
	state      byte   // field 3: 'Z' for a zombie
	pgrp       int    // field 5: the process group
	flags      uint64 // field 9: the kernel's PF_* flags
	startTicks uint64 // field 22: start time in clock ticks since boot
}

// pfKthread is PF_KTHREAD: a kernel thread, which has no environment.
const pfKthread = 0x00200000

// readProcStat reads /proc/PID/stat once. The start time is how a recorded
// PID is told from a reused one: a new process gets a new start time.
func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// comm (field 2) may hold spaces and parentheses: fields are counted
	// from the last ')', where field 3 starts.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) <= 22-3 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	pgrp, err := strconv.Atoi(fields[5-3])
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	flags, err := strconv.ParseUint(fields[9-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	start, err := strconv.ParseUint(fields[22-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return procStat{state: fields[0][0], pgrp: pgrp, flags: flags, startTicks: start}, nil
}

// startTime is the process's start time in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	st, err := readProcStat(pid)
	return st.startTicks, err
}

// processesOfRun lists live processes whose environment carries
// ARGUS_RUN_ID=runID: every process of a run, including those that left
// its process group.
//
// A process in the middle of execve shows an empty environment for a
// moment (its new memory has none yet): a run's process that left its
// group and execs just as the run's leader ends would pass for untagged
// and outlive the run (seen once under load, a `setsid sleep` escapee).
// So the processes whose environment read empty are read again together,
// a few milliseconds apart, unless they cannot be a run's: PID 1 (often
// without an environment, in containers and under systemd), kernel
// threads (which have none) and zombies. A census costs these few
// milliseconds only while such a process exists.
func processesOfRun(runID string) []int {
	needle := []byte("\x00" + EnvRunID + "=" + runID + "\x00")
	var pids, unsure []int
	// read files pid under pids if its environment carries the tag, and
	// reports whether it has been judged (false: read empty, maybe execing).
	read := func(pid int) bool {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			return true
		}
		if len(data) == 0 {
			return !mayBeExecing(pid)
		}
		if bytes.Contains(append([]byte{0}, data...), needle) && pid != os.Getpid() && !zombie(pid) {
			pids = append(pids, pid)
		}
		return true
	}
	for _, pid := range allPIDs() {
		if !read(pid) {
			unsure = append(unsure, pid)
		}
	}
	for try := 1; len(unsure) > 0 && try < environTries; try++ {
		time.Sleep(environRetry)
		unsure = slices.DeleteFunc(unsure, read)
	}
	return pids
}

// mayBeExecing reports whether a process whose environment read empty may
// be a run's process in the middle of execve.
func mayBeExecing(pid int) bool {
	if pid == 1 {
		return false
	}
	st, err := readProcStat(pid)
	return err == nil && st.flags&pfKthread == 0 && st.state != 'Z'
}

// environTries and environRetry bound the reads of an empty environment:
// an execve's window is microseconds, a loaded machine's scheduling a few
// milliseconds.
const (
	environTries = 4
	environRetry = 5 * time.Millisecond
)

// zombie reports whether pid has exited but not been reaped: it holds no
// resources and must not count as alive.
func zombie(pid int) bool {
	st, err := readProcStat(pid)
	return err != nil || st.state == 'Z'
}

// groupAlive reports whether a live (not zombie) process is left in the
// group. Zombies are skipped: where PID 1 does not reap orphans (some
// containers), a dead grandchild would otherwise keep a stop waiting.
func groupAlive(pgid int) bool {
	if !anyInGroup(pgid) {
		return false
	}
	for _, pid := range allPIDs() {
		if st, err := readProcStat(pid); err == nil && st.pgrp == pgid && st.state != 'Z' {
			return true
		}
	}
	return false
}

// sameProcess reports whether pid is still the process that started at
// ticks, and alive: one read of its stat.
func sameProcess(pid int, ticks uint64) bool {
	st, err := readProcStat(pid)
	return err == nil && st.startTicks == ticks && st.state != 'Z'
}

// stillRunning is sameProcess: on Linux identity is cheap to check.
func stillRunning(pid int, ticks uint64) bool { return sameProcess(pid, ticks) }

// groupLeader picks, among a run's processes, the one leading its group.
func groupLeader(pids []int) int {
	for _, pid := range pids {
		if st, err := readProcStat(pid); err == nil && st.pgrp == pid {
			return pid
		}
	}
	if len(pids) > 0 {
		return pids[0]
	}
	return 0
}

// allPIDs lists the processes in /proc with one directory read: a glob of
// /proc/[0-9]*/... stats every entry and costs several times more, which a
// stop polling through its grace period would pay on every tick.
func allPIDs() []int {
	f, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
