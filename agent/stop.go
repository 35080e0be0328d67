package agent

import (
	"context"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/server/api"
)

// stop ends a run (proc.Stop: SIGTERM to its process group, the grace
// period, then SIGKILL, then a sweep of processes that left the group but
// still carry the run's ARGUS_RUN_ID; on Windows: CTRL_BREAK to the run's
// process group, the grace period, then the run's job object is
// terminated). It acks terminated, killed or already_gone.
func (d *daemon) stop(ctx context.Context, c api.Command) {
	rec, seen := d.journal.get(c.ID)
	if seen && rec.State == stateDone {
		d.resendAck(c.ID)
		return
	}
	grace := d.cfg.GracePeriod
	if c.Stop != nil && c.Stop.GracePeriodMS > 0 {
		grace = time.Duration(c.Stop.GracePeriodMS) * time.Millisecond
	}
	// A stop seen before but not finished (the agent stopped mid-way) is
	// simply done again: signals to a group that is gone change nothing.
	if !seen {
		rec = Record{CmdID: c.ID, Kind: api.KindStop, RunID: c.RunID, State: stateStopping, GraceMS: grace.Milliseconds()}
		if err := d.journal.create(rec); err != nil {
			d.log.Error().Err(err).Str("cmd_id", c.ID).Msg("cannot journal the stop; not stopping")
			return
		}
	}
	d.carryOutStop(ctx, rec, grace)
}

// carryOutStop stops the run of the journaled stop rec and records its
// ack for the outbox.
func (d *daemon) carryOutStop(ctx context.Context, rec Record, grace time.Duration) {
	outcome, err := d.stopRun(ctx, rec.RunID, grace)
	if ctx.Err() != nil {
		return // the agent is stopping: the stop is redelivered and redone
	}
	ack := &api.AckRequest{Outcome: outcome}
	if err != nil {
		ack = &api.AckRequest{Error: err.Error()}
	}
	d.log.Info().Str("run_id", rec.RunID).Str("outcome", outcome).AnErr("error", err).Msg("stop finished")
	d.record(rec.CmdID, func(r *Record) { r.State = stateDone; r.Ack = ack })
}

// resumeStop carries on a stop the journal holds unfinished (the agent
// stopped or died during its grace period) as soon as the agent is back,
// rather than when the server hands it out again after its lease: with
// the grace it was asked for, counted afresh. A redelivery meanwhile is
// skipped (dispatch's inflight), and then acked from the journal.
func (d *daemon) resumeStop(ctx context.Context, rec Record) {
	if !d.claimInflight(rec.CmdID) {
		return
	}
	grace := d.cfg.GracePeriod
	if rec.GraceMS > 0 {
		grace = time.Duration(rec.GraceMS) * time.Millisecond
	}
	d.log.Info().Str("cmd_id", rec.CmdID).Str("run_id", rec.RunID).Msg("resuming a stop the agent was interrupted in")
	d.cmds.Add(1)
	go func() {
		defer d.cmds.Done()
		defer d.releaseInflight(rec.CmdID)
		d.carryOutStop(ctx, rec, grace)
		d.kickOutbox()
	}()
}

// stopOutcomes are proc's outcomes as the server names them.
var stopOutcomes = map[proc.Outcome]string{
	proc.Gone:       api.StopAlreadyGone,
	proc.Terminated: api.StopTerminated,
	proc.Killed:     api.StopKilled,
}

// stopRun stops the run the journal knows as runID. Before a SIGKILL the
// run's record says so (KilledBy): what a run whose supervisor died too
// is reported to have died of. The run is never the agent's own child
// (its supervisor is its parent), so its recorded PID is signalled only
// while the start time matches (proc's PID-reuse guard).
func (d *daemon) stopRun(ctx context.Context, runID string, grace time.Duration) (string, error) {
	run, ok := d.journal.runRecord(runID)
	if !ok || run.PID == 0 {
		return api.StopAlreadyGone, nil
	}
	ref := proc.Ref{
		RunID:  run.RunID,
		Leader: proc.Process{PID: run.PID, Group: run.PGID, StartTime: run.StartTicks},
	}
	outcome, err := proc.Stop(ctx, ref, grace, func() {
		d.record(run.CmdID, func(r *Record) { r.KilledBy = "SIGKILL" })
	})
	return stopOutcomes[outcome], err
}
