package supervise

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
)

// startTimeout bounds the wait for the supervisor's start line. Starting
// a run takes milliseconds; a supervisor that says nothing for this long
// is stuck, and is killed rather than left to start the run later.
const startTimeout = 10 * time.Second

// Run is a run started under a supervisor that is the agent's own child.
type Run struct {
	Leader     proc.Process // the run's first process, leading its group
	Supervisor proc.Process // its parent, identified like a run leader
	StatusPath string
	cmd        *exec.Cmd
}

// Start hands c to a supervisor (the spare, else a new one) and returns
// once it reports the run started, or why it could not start it. The run's
// exit status will be in statusPath.
func Start(c proc.Command, statusPath string) (*Run, error) {
	req, err := json.Marshal(requestOf(c, statusPath))
	if err != nil {
		return nil, err
	}
	s, err := take()
	if err == nil {
		err = s.send(req)
	}
	if err != nil {
		// A spare that died before its command is no run lost: a new
		// supervisor gets it.
		if s, err = spawn(); err != nil {
			return nil, err
		}
		if err := s.send(req); err != nil {
			return nil, err
		}
	}
	line, err := readStart(s.stdout, startTimeout)
	_ = s.stdout.Close() // nothing more comes; the run may last for days
	Warm()               // the next run's supervisor
	if err != nil {
		s.kill()
		return nil, err
	}
	if line.Error != "" {
		_ = s.cmd.Wait()
		return nil, errors.New(line.Error)
	}
	return &Run{
		Leader:     proc.Process{PID: line.PID, Group: line.Group, StartTime: line.StartTime},
		Supervisor: s.self,
		StatusPath: statusPath,
		cmd:        s.cmd,
	}, nil
}

// readStart reads the supervisor's start line, for at most within.
func readStart(r io.Reader, within time.Duration) (startLine, error) {
	type result struct {
		line startLine
		err  error
	}
	got := make(chan result, 1)
	go func() {
		var l startLine
		err := json.NewDecoder(r).Decode(&l)
		got <- result{l, err}
	}()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case res := <-got:
		if res.err != nil {
			return startLine{}, fmt.Errorf("the run's supervisor ended without starting it: %w", res.err)
		}
		if res.line.Error == "" && res.line.PID <= 0 {
			return startLine{}, errors.New("the run's supervisor reported no process")
		}
		return res.line, nil
	case <-timer.C:
		return startLine{}, fmt.Errorf("the run's supervisor did not report within %v", within)
	}
}

// Wait reaps the supervisor, which ends just after the run, and reads the
// run's exit from the status file. An error means the exit is unknown:
// the supervisor died before writing it, or the file is unreadable.
func (r *Run) Wait() (Exit, error) {
	werr := r.cmd.Wait()
	exit, found, err := ReadExit(r.StatusPath)
	if err != nil {
		return Exit{}, err
	}
	if !found {
		return Exit{}, fmt.Errorf("the run's supervisor ended (%v) without recording the run's exit", werr)
	}
	return exit, nil
}
