package supervise

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/internal/atomicfile"
)

// The supervisor's exit codes say which step failed; nobody reads its
// stderr (the agent gives it none), but a test or a person can see them.
const (
	exitBadRequest = 2 // stdin held no command
	exitNoStart    = 3 // the run could not start (said on the start line)
	exitNoStatus   = 4 // the run ended, its status could not be written
)

// init turns the process into a supervisor before anything else of the
// agent runs (flags, logging, the daemon): cheap, since it is on the path
// from a rerun to its PID, and safe, since main never runs in it.
func init() {
	if os.Getenv(EnvSupervise) == "1" {
		os.Exit(supervise())
	}
}

// supervise is the supervisor's whole life: read the command, start the
// run, say so once, wait, write the status.
func supervise() int {
	// A handler rather than SIG_IGN: the run inherits ignored signals
	// across exec but not handled ones, and its own SIGINT must work.
	// Dropped signals are not read: the channel only keeps the default
	// action (death) away.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, os.Interrupt)
	var req request
	err := json.NewDecoder(os.Stdin).Decode(&req)
	if errors.Is(err, io.EOF) {
		return exitBadRequest // a spare whose agent is gone (spare.go): nobody to tell
	}
	if err != nil {
		report(startLine{Error: "supervisor: reading the command: " + err.Error()})
		return exitBadRequest
	}
	child, err := proc.Start(req.command())
	if err != nil {
		report(startLine{Error: err.Error()})
		return exitNoStart
	}
	started := time.Now().UTC()
	report(startLine{PID: child.PID, Group: child.Group, StartTime: child.StartTime})
	code, sig := child.Wait()
	s := status{PID: child.PID, StartedAt: started, ExitCode: code, Signal: sig, EndedAt: time.Now().UTC()}
	if writeStatus(req.StatusPath, s) != nil {
		return exitNoStatus
	}
	return 0
}

// report writes the one start line and closes stdout for good: the agent
// that reads it may be gone by the time anything else would be written.
func report(l startLine) {
	_ = json.NewEncoder(os.Stdout).Encode(l)
	_ = os.Stdout.Close()
}

// writeStatus puts the run's end on disk durably (temp file, fsync,
// rename, directory fsync, 0600): it is all a restarted agent will have.
func writeStatus(path string, s status) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, true)
}
