package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat. That is
// USER_HZ, which the kernel fixes at 100 on every architecture Go builds
// for, whatever CONFIG_HZ is; sysconf(_SC_CLK_TCK) would need cgo to ask.
const clockTick = 10 * time.Millisecond

// procStat is what the benchmarks read from /proc/PID/stat.
type procStat struct {
	State      byte          // R, S, D, Z…
	CPU        time.Duration // utime + stime, all threads, live and exited
	StartTicks uint64        // start time since boot, to tell a reused PID
}

// readStat parses /proc/PID/stat. Fields are counted from the last ')':
// the command name before it may hold spaces and parentheses.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(data[end+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var n [3]uint64
	for i, field := range []int{14, 15, 22} { // utime, stime, starttime
		if n[i], err = strconv.ParseUint(f[field-3], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat field %d: %w", pid, field, err)
		}
	}
	return procStat{State: f[0][0], CPU: time.Duration(n[0]+n[1]) * clockTick, StartTicks: n[2]}, nil
}

// schedCPU is the process's on-CPU time in nanoseconds, summed over its
// threads' /proc/PID/task/TID/schedstat. Finer than readStat's 10 ms ticks,
// which matters for an idle process that uses tens of milliseconds a
// minute; but a thread that exited takes its time with it.
func schedCPU(pid int) (time.Duration, error) {
	paths, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(paths) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d (kernel without CONFIG_SCHEDSTATS?)", pid)
	}
	var sum time.Duration
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited between the glob and the read
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// statusNum reads a numeric "Key:   1234 kB" (or "Key:\t12") line of
// /proc/PID/status; sizes are in kB.
func statusNum(pid int, key string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// pidAt is one process as it was seen: a PID and its start time.
type pidAt struct {
	PID   int
	Start uint64
}

// snapshot records the start times of pids, dropping those already gone.
func snapshot(pids []int) []pidAt {
	var out []pidAt
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil && st.State != 'Z' {
			out = append(out, pidAt{PID: pid, Start: st.StartTicks})
		}
	}
	return out
}

// alive counts the processes of ps still alive: present, not a zombie, and
// still the process that was seen (not a new one that got the PID).
func alive(ps []pidAt) int {
	n := 0
	for _, p := range ps {
		if st, err := readStat(p.PID); err == nil && st.State != 'Z' && st.StartTicks == p.Start {
			n++
		}
	}
	return n
}

// loadAvg is the first three fields of /proc/loadavg: a figure taken on a
// busy machine should say so.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
