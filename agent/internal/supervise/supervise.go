// Package supervise gives each run a supervisor: a small process, the
// agent's own executable re-run with EnvSupervise=1, that starts the run
// (proc.Start), is its real parent, waits for it and writes how it ended
// (exit code or signal, start and end) to a status file next to the run's
// log. The agent may stop, crash, be SIGKILLed or upgraded meanwhile: the
// supervisor does not depend on it, so a restarted agent reads the real
// exit from the file (ReadExit) instead of reporting it unknown.
//
// Here: handing a run to a supervisor and reading its start report
// (Start, in start.go), keeping one supervisor started ahead of need, off
// the path from a rerun to its PID (spare.go), the supervisor's whole life (supervisor.go, entered from this
// package's init before main or any flag parsing runs, so it works for
// argus-agent and for any test binary linking this package), and the
// wire and file formats (this file). Not here: how a run is started,
// identified or stopped (package proc, unchanged: the supervisor calls
// proc.Start, and stops still signal the run's group, which the
// supervisor is not in), and what the agent journals or reports (package
// agent).
//
// The command goes to the supervisor on its stdin as JSON, never in argv,
// which any user can read. The supervisor answers one JSON line on its
// stdout (the started leader, or why it could not start), then closes
// it: it never writes to the agent again, so an agent that died cannot
// SIGPIPE it. It ignores SIGHUP and SIGINT (by a handler, not SIG_IGN,
// which the run would inherit), and on Unix leads a session of its own.
//
// The wire and file formats are fixed: an agent upgraded in place starts
// the new executable as the supervisor of a run the old agent asked for,
// and a new agent reads status files old supervisors wrote.
//
// What is and is not proven. Linux: everything, by tests with real
// processes, including an agent SIGKILLed while a run ends (agent e2e
// tests). macOS: the same code (Setsid, fork/exec), cross-compiled only.
// Windows: compiles, and is reasoned about, not run. The supervisor is
// started with DETACHED_PROCESS and CREATE_NEW_PROCESS_GROUP, so the
// agent's console events never reach it, and leaves the agent's job object
// on the same terms as the run (proc: when that job allows breakaway, or
// lets children out silently). In a job that allows neither (one that
// kills on close, as some service managers and terminals use) the
// supervisor and the run die with the agent's job, as the run alone did
// before, and the run is reported exit unknown. The run's job object is
// created by the supervisor (proc.Start); the agent keeps a handle to it
// (proc.HoldRun), so its name outlives the supervisor while the agent
// runs. Unproven there: that a DETACHED_PROCESS supervisor's run still
// gets its own windowless console and CTRL_BREAK reaches it, and the
// breakaway itself.
//
// What stays unknown anywhere: the exit of a run whose supervisor was
// itself killed (SIGKILL, the OOM killer) before writing the file.
package supervise

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
)

// EnvSupervise, set to "1", turns the process into a run's supervisor
// (see init in supervisor.go).
const EnvSupervise = "ARGUS_AGENT_SUPERVISE"

// Exit is how a run ended, as its supervisor saw it: an exit code, or the
// name of the signal that ended it (proc.Child.Wait's meaning), plus the
// leader's PID and when it started and ended.
type Exit struct {
	Code      *int
	Signal    string
	EndedAt   time.Time
	Leader    int
	StartedAt time.Time
}

// request is what the agent sends on the supervisor's stdin.
type request struct {
	RunID      string   `json:"run_id"`
	Argv       []string `json:"argv,omitempty"`
	Shell      string   `json:"shell,omitempty"`
	Dir        string   `json:"dir"`
	Env        []string `json:"env"`
	LogPath    string   `json:"log_path"`
	StatusPath string   `json:"status_path"`
}

func requestOf(c proc.Command, statusPath string) request {
	return request{RunID: c.RunID, Argv: c.Argv, Shell: c.Shell, Dir: c.Dir, Env: c.Env, LogPath: c.LogPath, StatusPath: statusPath}
}

func (r request) command() proc.Command {
	return proc.Command{RunID: r.RunID, Argv: r.Argv, Shell: r.Shell, Dir: r.Dir, Env: r.Env, LogPath: r.LogPath}
}

// startLine is the supervisor's one line on its stdout.
type startLine struct {
	PID       int    `json:"pid,omitempty"`
	Group     int    `json:"group,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	Error     string `json:"error,omitempty"`
}

// status is the status file.
type status struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	ExitCode  *int      `json:"exit_code,omitempty"`
	Signal    string    `json:"signal,omitempty"`
	EndedAt   time.Time `json:"ended_at"`
}

// ReadExit reads a run's status file. found is false when there is none
// (the run has not ended, or its supervisor died first); err is set when
// one exists but cannot be read or makes no sense, and then the run was
// started but how it ended is unknown.
func ReadExit(statusPath string) (exit Exit, found bool, err error) {
	data, err := os.ReadFile(statusPath)
	if errors.Is(err, fs.ErrNotExist) {
		return Exit{}, false, nil
	}
	if err != nil {
		return Exit{}, true, err
	}
	var s status
	if err := json.Unmarshal(data, &s); err != nil {
		return Exit{}, true, fmt.Errorf("status file %s is corrupt: %w", statusPath, err)
	}
	if s.ExitCode == nil && s.Signal == "" {
		return Exit{}, true, fmt.Errorf("status file %s holds neither an exit code nor a signal", statusPath)
	}
	return Exit{Code: s.ExitCode, Signal: s.Signal, EndedAt: s.EndedAt, Leader: s.PID, StartedAt: s.StartedAt}, true, nil
}
