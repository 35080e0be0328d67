package supervise

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/internal/atomicfile"
)

// init turns the process into the agent's supervisor before anything else
// of the agent runs (flags, logging, the daemon): main never runs in it.
func init() {
	if os.Getenv(EnvSupervise) == "1" {
		supervise()
		os.Exit(0)
	}
}

// supervise is the supervisor's whole life: start each run the agent
// sends, say so, wait for it, write its status, say so; and once the
// agent's end of stdin closes, start nothing more and return when the
// last run is recorded.
func supervise() {
	// Handlers rather than SIG_IGN: a run inherits ignored signals across
	// exec but not handled ones. SIGHUP and SIGINT must not end the
	// supervisor of runs that outlive a terminal; SIGPIPE must not end it
	// when it answers an agent that is gone (writes then fail instead).
	// The channel is never read: it only keeps the default action away.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, os.Interrupt, syscall.SIGPIPE)
	out := &answers{enc: json.NewEncoder(os.Stdout)}
	dec := json.NewDecoder(os.Stdin)
	var runs sync.WaitGroup
	for {
		var req request
		if dec.Decode(&req) != nil {
			break // the agent is gone, or stopped: nothing more comes
		}
		runs.Add(1)
		go func() {
			defer runs.Done()
			superviseRun(req, out)
		}()
	}
	runs.Wait()
}

// superviseRun starts one run, waits for it and records its end.
func superviseRun(req request, out *answers) {
	child, err := proc.Start(req.command())
	if err != nil {
		out.send(reply{ID: req.RunID, Error: err.Error()})
		return
	}
	started := time.Now().UTC()
	out.send(reply{ID: req.RunID, PID: child.PID, Group: child.Group, StartTime: child.StartTime})
	code, sig := child.Wait()
	ended := time.Now().UTC()
	// Nothing of a run outlives it: what its leader left behind (a
	// background job still holding the GPU, say) is stopped now, before
	// its end is recorded, and the record says how many there were.
	leader := proc.Process{PID: child.PID, Group: child.Group, StartTime: child.StartTime}
	left, _, _ := proc.EndLeftovers(context.Background(), leader, req.RunID, req.Grace)
	s := status{PID: child.PID, StartedAt: started, ExitCode: code, Signal: sig, EndedAt: ended, Left: left}
	// A status that cannot be written leaves the end unknown; the agent
	// learns that from the file's absence.
	_ = writeStatus(req.StatusPath, s)
	out.send(reply{ID: req.RunID, Ended: true})
}

// answers writes reply lines, one at a time. Errors are dropped: the
// agent reading them may be gone, and the status files say what matters.
type answers struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (a *answers) send(r reply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.enc.Encode(r)
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
