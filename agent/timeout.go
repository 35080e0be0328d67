package agent

import (
	"context"
	"time"
)

// A run's timeout. The deadline (start + the command's timeout) is
// journaled with the run's PID, so a restarted agent re-arms it from the
// journal (recover.go) and stops at once a run whose deadline passed while
// no agent watched. Before the first signal the record is marked TimedOut,
// so the exit report says why the run ended even if the agent dies
// between the signal and the report.

// deadlineFrom is when a run started at start must be stopped; zero for
// no timeout.
func deadlineFrom(start time.Time, timeoutMS int64) time.Time {
	if timeoutMS <= 0 {
		return time.Time{}
	}
	return start.Add(time.Duration(timeoutMS) * time.Millisecond)
}

// armTimeout stops rec's run at its deadline unless the run ends first or
// the agent stops.
func (d *daemon) armTimeout(ctx context.Context, rec Record) {
	if rec.Deadline.IsZero() {
		return
	}
	ended := d.watchEnd(rec.RunID)
	// The run may have ended before the watch was set (finish closes
	// only the channels it finds): the journal says so.
	if latest, _ := d.journal.get(rec.CmdID); latest.State == stateEnded {
		d.endWatch(rec.RunID)
		return
	}
	d.timers.Add(1)
	go func() {
		defer d.timers.Done()
		t := time.NewTimer(time.Until(rec.Deadline))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-ended:
			return
		case <-t.C:
		}
		d.timeOut(ctx, rec)
	}()
}

// timeOut stops a run whose deadline has come, with the usual SIGTERM,
// grace period, SIGKILL. If the agent stops in the middle, the restarted
// agent finds the deadline past and does it again.
func (d *daemon) timeOut(ctx context.Context, rec Record) {
	log := d.log.With().Str("run_id", rec.RunID).Time("deadline", rec.Deadline).Logger()
	log.Warn().Msg("run reached its timeout; stopping it")
	d.record(rec.CmdID, func(r *Record) { r.TimedOut = true })
	outcome, err := d.stopRun(ctx, rec.RunID, d.cfg.GracePeriod)
	if ctx.Err() != nil {
		return
	}
	log.Info().Str("outcome", outcome).AnErr("error", err).Msg("timeout stop finished")
}

// watchEnd returns a channel that finish closes when the run ends.
func (d *daemon) watchEnd(runID string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.ends[runID]
	if !ok {
		ch = make(chan struct{})
		d.ends[runID] = ch
	}
	return ch
}

// endWatch closes and forgets the run's end channel, if any.
func (d *daemon) endWatch(runID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ch, ok := d.ends[runID]; ok {
		close(ch)
		delete(d.ends, runID)
	}
}
