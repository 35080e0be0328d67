package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	state, _, ok := stat(pid)
	return ok && state != 'Z'
}

// stat reads a process's state and parent from /proc/<pid>/stat.
func stat(pid int) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The state follows the command name, which may hold spaces and ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0][0], ppid, true
}

// RunPIDs lists the live processes whose environment carries
// ARGUS_RUN_ID=runID: every process of a run, those that left its process
// group included, found the way the agent finds them. /proc is listed once
// (a glob of /proc/*/environ would open every process directory twice).
func RunPIDs(runID string) []int {
	var out []int
	for _, p := range processes() {
		if p.env(runIDVar) == runID && Alive(p.pid) {
			out = append(out, p.pid)
		}
	}
	return out
}

// runIDVar tags every process of a run (agent/internal/proc.EnvRunID);
// supervisorMark is in the environment of an agent's supervisor
// (agent/internal/supervise.EnvSupervise). Neither package can be imported
// from here: both are internal to the agent.
const (
	runIDVar       = "ARGUS_RUN_ID"
	supervisorMark = "ARGUS_AGENT_SUPERVISE=1"
)

// process is a process whose environment could be read.
type process struct {
	pid     int
	environ []byte // as in /proc, with a NUL added in front
}

// processes lists the processes whose environment this process may read
// (its user's), zombies included.
func processes() []process {
	entries, _ := os.ReadDir("/proc")
	var out []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a process
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		// A leading NUL so the first variable matches like the others.
		out = append(out, process{pid: pid, environ: append([]byte{0}, data...)})
	}
	return out
}

// has reports whether the environment holds the variable kv ("NAME=value").
func (p process) has(kv string) bool {
	return bytes.Contains(p.environ, []byte("\x00"+kv+"\x00"))
}

// env is the value of the variable name, "" when it is not set.
func (p process) env(name string) string {
	key := []byte("\x00" + name + "=")
	i := bytes.Index(p.environ, key)
	if i < 0 {
		return ""
	}
	v := p.environ[i+len(key):]
	if end := bytes.IndexByte(v, 0); end >= 0 {
		v = v[:end]
	}
	return string(v)
}

// findLeftovers lists the live processes of the test whose Env has dir
// (see endLeftovers):
//   - those carrying EnvDir=dir: its supervisors, and any other;
//   - every process of each run of this test. A run is this test's when
//     one of its processes (those carrying its ARGUS_RUN_ID) has its cwd
//     or an open file under dir (a run's leader has its output file open
//     in the agent's state dir), or is the child of a process carrying
//     EnvDir=dir (the leader is its supervisor's). Run ids are unique, so
//     the processes of a run that left its group and dir are found by id.
//     A run none of whose processes touches dir cannot write into it.
func findLeftovers(dir string) leftovers {
	dirs := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		dirs = append(dirs, real) // /proc shows resolved paths
	}
	mark := EnvDir + "=" + dir
	var out leftovers
	ours := map[int]bool{}
	type runProc struct {
		pid int
		run string
	}
	var runProcs []runProc
	for _, p := range processes() {
		state, _, ok := stat(p.pid)
		if !ok || state == 'Z' {
			continue
		}
		switch run := p.env(runIDVar); {
		case p.has(mark):
			ours[p.pid] = true
			role := otherRole
			if p.has(supervisorMark) {
				role = supervisorRole
			}
			out = append(out, leftover{PID: p.pid, Role: role, Run: run})
		case run != "":
			runProcs = append(runProcs, runProc{p.pid, run})
		}
	}
	runs := map[string]bool{}
	for _, rp := range runProcs {
		if !runs[rp.run] && (childOf(rp.pid, ours) || touches(rp.pid, dirs)) {
			runs[rp.run] = true
		}
	}
	for _, rp := range runProcs {
		if runs[rp.run] {
			out = append(out, leftover{PID: rp.pid, Role: runRole, Run: rp.run})
		}
	}
	return out
}

func childOf(pid int, parents map[int]bool) bool {
	_, ppid, ok := stat(pid)
	return ok && parents[ppid]
}

// touches reports whether pid's cwd or one of its open files is under one
// of dirs.
func touches(pid int, dirs []string) bool {
	base := fmt.Sprintf("/proc/%d/", pid)
	paths := []string{base + "cwd"}
	fds, _ := os.ReadDir(base + "fd")
	for _, fd := range fds {
		paths = append(paths, base+"fd/"+fd.Name())
	}
	for _, link := range paths {
		target, err := os.Readlink(link)
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if target == d || strings.HasPrefix(target, d+string(filepath.Separator)) {
				return true
			}
		}
	}
	return false
}
