package supervise

import (
	"errors"
	"fmt"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
)

// startTimeout bounds the wait for the supervisor's answer. Starting a
// run takes milliseconds; a supervisor silent for this long is stuck, and
// is killed rather than left to start the run later.
const startTimeout = 10 * time.Second

// Run is a run started under the agent's supervisor.
type Run struct {
	Leader     proc.Process // the run's first process, leading its group
	Supervisor proc.Process // its parent, identified like a run leader
	StatusPath string
	ended      <-chan struct{} // closed when the supervisor has recorded its end, or is gone
}

// Start hands c to the agent's supervisor (a new one if it died) and
// returns once the run has started, or why it could not start. The run's
// exit status will be in statusPath.
func Start(c proc.Command, statusPath string, grace time.Duration) (*Run, error) {
	req := requestOf(c, statusPath, grace)
	s, err := supervisor()
	if err != nil {
		return nil, err
	}
	started, ended, err := s.send(req)
	if errors.Is(err, errNotSent) {
		// Died before it got the command: no run lost, none started, so a
		// new supervisor gets it.
		if s, err = supervisor(); err != nil {
			return nil, err
		}
		started, ended, err = s.send(req)
	}
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case r, ok := <-started:
		if !ok {
			return orphan(c.RunID, s, statusPath)
		}
		if r.Error != "" {
			return nil, errors.New(r.Error)
		}
		if r.PID <= 0 {
			return nil, errors.New("the run's supervisor reported no process")
		}
		return &Run{
			Leader:     proc.Process{PID: r.PID, Group: r.Group, StartTime: r.StartTime},
			Supervisor: s.self, StatusPath: statusPath, ended: ended,
		}, nil
	case <-timer.C:
		s.kill()
		return nil, fmt.Errorf("the run's supervisor did not answer within %v", startTimeout)
	}
}

// orphan is a start whose supervisor died after it got the command: the
// run may have started, and then runs on without anyone to record its
// end. If its processes are found it is adopted, its end unknown
// (Wait errs); otherwise it did not start.
func orphan(runID string, s *shim, statusPath string) (*Run, error) {
	p, found := proc.FindLeader(runID)
	if !found {
		return nil, errors.New("the run's supervisor died before starting it")
	}
	gone := make(chan struct{})
	close(gone)
	return &Run{Leader: p, Supervisor: s.self, StatusPath: statusPath, ended: gone}, nil
}

// Wait waits for the supervisor to record the run's end (or to be gone)
// and reads the exit from the status file. An error means the exit is
// unknown: the supervisor died before writing it, or the file is
// unreadable.
func (r *Run) Wait() (Exit, error) {
	<-r.ended
	exit, found, err := ReadExit(r.StatusPath)
	if err != nil {
		return Exit{}, err
	}
	if !found {
		return Exit{}, errors.New("the run's supervisor ended without recording the run's exit")
	}
	return exit, nil
}
