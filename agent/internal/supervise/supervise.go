// Package supervise gives runs a supervisor: a small process, the
// agent's own executable re-run with EnvSupervise=1, that starts each run
// (proc.Start), is its real parent, waits for it and writes how it ended
// (exit code or signal, start and end) to a status file next to the run's
// log. The agent may stop, crash, be SIGKILLed or upgraded meanwhile: the
// supervisor does not depend on it, so a restarted agent reads the real
// exit from the file (ReadExit) instead of reporting it unknown.
//
// One supervisor serves an agent for its life (shim.go): started with the
// agent, it takes each run as one JSON line on its stdin and answers on
// its stdout, so a rerun costs the run's own fork and exec and a pipe
// round trip, not the start of a Go program. When the agent stops or dies
// its stdin closes: it starts nothing more and exits once its last run is
// recorded. A restarted agent starts its own and only reads the status
// files of runs an earlier supervisor still holds.
//
// Here: handing runs to the supervisor and reading its answers (Start and
// Run.Wait in start.go, the supervisor's lifecycle on the agent's side in
// shim.go), the supervisor's whole life (supervisor.go, entered from this
// package's init before main or any flag parsing runs, so it works for
// argus-agent and for any test binary linking this package), and the
// wire and file formats (this file). Not here: how a run is started,
// identified or stopped (package proc, unchanged: the supervisor calls
// proc.Start, and stops still signal the run's group, which the
// supervisor is not in), and what the agent journals or reports (package
// agent).
//
// Commands go to the supervisor on its stdin as JSON, never in argv,
// which any user can read, and it gets the agent's environment without
// the agent's ARGUS_ settings. It ignores SIGHUP, SIGINT and SIGPIPE (by
// handlers, not SIG_IGN, which runs would inherit), and on Unix leads a
// session of its own.
//
// The wire and file formats are fixed: a new agent reads status files
// old supervisors wrote.
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
// itself killed (SIGKILL, the OOM killer) before writing the file; one
// supervisor holds all of an agent's runs, so killing it leaves every
// one of them so.
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

// EnvSupervise, set to "1", turns the process into the runs' supervisor
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
	// Left is how many of the run's processes outlived its leader, which
	// the supervisor then ended (SIGTERM, grace, SIGKILL).
	Left int
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
	// Grace is the agent's grace period, for what is left of the run
	// when its leader ends.
	Grace time.Duration `json:"grace,omitempty"`
}

func requestOf(c proc.Command, statusPath string, grace time.Duration) request {
	return request{RunID: c.RunID, Argv: c.Argv, Shell: c.Shell, Dir: c.Dir, Env: c.Env, LogPath: c.LogPath, StatusPath: statusPath, Grace: grace}
}

func (r request) command() proc.Command {
	return proc.Command{RunID: r.RunID, Argv: r.Argv, Shell: r.Shell, Dir: r.Dir, Env: r.Env, LogPath: r.LogPath}
}

// reply is one line of the supervisor's answers: a run started (PID,
// group and start time) or not (Error), and later that it ended and its
// status is written (Ended). ID is the run's.
type reply struct {
	ID        string `json:"id"`
	PID       int    `json:"pid,omitempty"`
	Group     int    `json:"group,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	Error     string `json:"error,omitempty"`
	Ended     bool   `json:"ended,omitempty"`
}

// status is the status file.
type status struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	ExitCode  *int      `json:"exit_code,omitempty"`
	Signal    string    `json:"signal,omitempty"`
	EndedAt   time.Time `json:"ended_at"`
	Left      int       `json:"left,omitempty"`
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
	return Exit{Code: s.ExitCode, Signal: s.Signal, EndedAt: s.EndedAt, Leader: s.PID, StartedAt: s.StartedAt, Left: s.Left}, true, nil
}
