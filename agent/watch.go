package agent

import (
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/agent/internal/supervise"
)

// watchEvery is how often a run started by an earlier agent (not this
// agent's child, so there is no wait to block on) is checked for its
// end: a look for its status file and at its processes, a few syscalls.
const watchEvery = 150 * time.Millisecond

// unknownSupervisorGrace is how long a run adopted mid-start (its
// supervisor never journaled) may be without processes and without a
// status file before its exit counts as unknown: its supervisor may be
// just writing it.
const unknownSupervisorGrace = 3 * time.Second

// runWatch tells when a run started by an earlier agent is over.
type runWatch struct {
	leader     proc.Process
	supervisor proc.Process // PID 0: none known
	statusPath string       // "": a record from before supervisors
	goneSince  time.Time
}

func newRunWatch(rec Record) *runWatch {
	return &runWatch{
		leader:     proc.Process{PID: rec.PID, Group: rec.PGID, StartTime: rec.StartTicks},
		supervisor: proc.Process{PID: rec.SupervisorPID, Group: rec.SupervisorPID, StartTime: rec.SupervisorStart},
		statusPath: rec.StatusPath,
	}
}

// check reports whether the run is over and, when its supervisor wrote
// one, its exit. It is over once the status file is there, or once
// neither the leader nor the supervisor runs: the supervisor writes the
// file before it exits, and the processes are looked at before the file,
// so a supervisor seen gone left the file it ever will.
// A status file that is there but unreadable ends the run too, with err
// saying why its exit is unknown.
func (w *runWatch) check(now time.Time) (over bool, exit *supervise.Exit, err error) {
	supervisorGone := w.supervisor.PID == 0 || !w.supervisor.Running()
	leaderGone := !w.leader.Running()
	if w.statusPath != "" {
		e, found, err := supervise.ReadExit(w.statusPath)
		if found && err == nil {
			return true, &e, nil
		}
		if found {
			return true, nil, err
		}
	}
	if !leaderGone || !supervisorGone {
		w.goneSince = time.Time{}
		return false, nil, nil
	}
	if w.statusPath != "" && w.supervisor.PID == 0 {
		if w.goneSince.IsZero() {
			w.goneSince = now
		}
		return now.Sub(w.goneSince) >= unknownSupervisorGrace, nil, nil
	}
	return true, nil, nil
}
