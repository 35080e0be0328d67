package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which may hold spaces and ')'.
	end := bytes.LastIndexByte(data, ')')
	return end > 0 && len(data) > end+2 && data[end+2] != 'Z'
}

// RunPIDs lists the live processes whose environment carries
// ARGUS_RUN_ID=runID: every process of a run, those that left its process
// group included, found the way the agent finds them. /proc is listed once
// (a glob of /proc/*/environ would open every process directory twice).
func RunPIDs(runID string) []int {
	needle := []byte("\x00ARGUS_RUN_ID=" + runID + "\x00")
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a process
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		// A leading NUL so the first variable matches like the others.
		if err == nil && bytes.Contains(append([]byte{0}, data...), needle) && Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}
