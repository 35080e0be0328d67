//go:build linux

package agent

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// startTime is the process's start time in clock ticks since boot, field
// 22 of /proc/PID/stat. A PID the kernel hands to a new process gets a new
// start time, which is how a recorded PID is told from a reused one.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: fields are counted
	// from the last ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(data[end+1:]))
	const startField = 22 - 3 // fields after comm start at 3
	if len(fields) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}

// processesOfRun lists live processes whose environment carries
// ARGUS_RUN_ID=runID: every process of a run, including those that left
// its process group.
func processesOfRun(runID string) []int {
	needle := []byte("\x00" + envRunID + "=" + runID + "\x00")
	var pids []int
	for _, pid := range allPIDs() {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, data...), needle) {
			continue
		}
		if pid != os.Getpid() && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether pid has exited but not been reaped: it holds no
// resources and must not count as alive.
func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	end := bytes.LastIndexByte(data, ')')
	return end < 0 || len(data) < end+3 || data[end+2] == 'Z'
}

// groupAlive reports whether a live (not zombie) process is left in the
// group. Zombies are skipped: where PID 1 does not reap orphans (some
// containers), a dead grandchild would otherwise keep a stop waiting.
func groupAlive(pgid int) bool {
	if !anyInGroup(pgid) {
		return false
	}
	for _, pid := range allPIDs() {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		state, group, ok := statStateGroup(data)
		if ok && group == pgid && state != 'Z' {
			return true
		}
	}
	return false
}

// statStateGroup reads the state (field 3) and process group (field 5)
// from a /proc/PID/stat line.
func statStateGroup(data []byte) (byte, int, bool) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 3 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	group, err := strconv.Atoi(fields[2])
	return fields[0][0], group, err == nil
}

// sameProcess reports whether pid is still the process that started at
// ticks, and alive.
func sameProcess(pid int, ticks uint64) bool {
	t, err := startTime(pid)
	return err == nil && t == ticks && !zombie(pid)
}

// stillRunning is sameProcess: on Linux identity is cheap to check.
func stillRunning(pid int, ticks uint64) bool { return sameProcess(pid, ticks) }

// groupLeader picks, among a run's processes, the one leading its group.
func groupLeader(pids []int) int {
	for _, pid := range pids {
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if _, group, ok := statStateGroup(data); ok && group == pid {
				return pid
			}
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
