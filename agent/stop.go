package agent

import (
	"context"
	"syscall"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// stopPoll is how often a stop checks whether the run's group is gone:
// small against the grace period, so the stop ends close to the group.
const stopPoll = 10 * time.Millisecond

// stop ends a run: SIGTERM to its process group, the grace period, then
// SIGKILL, then a sweep of processes that left the group but still carry
// the run's ARGUS_RUN_ID (on Windows: CTRL_BREAK to the run's process
// group, the grace period, then the run's job object is terminated). It
// acks terminated, killed or already_gone.
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
		if err := d.journal.create(Record{CmdID: c.ID, Kind: api.KindStop, RunID: c.RunID, State: stateStopping}); err != nil {
			d.log.Error().Err(err).Str("cmd_id", c.ID).Msg("cannot journal the stop; not stopping")
			return
		}
	}
	outcome, err := d.stopRun(ctx, c.RunID, grace)
	if ctx.Err() != nil {
		return // the agent is stopping: the stop is redelivered and redone
	}
	ack := &api.AckRequest{Outcome: outcome}
	if err != nil {
		ack = &api.AckRequest{Error: err.Error()}
	}
	d.log.Info().Str("run_id", c.RunID).Str("outcome", outcome).AnErr("error", err).Msg("stop finished")
	d.record(c.ID, func(r *Record) { r.State = stateDone; r.Ack = ack })
}

// target is how a stop reaches a run's processes.
type target struct {
	signal func(syscall.Signal)
	alive  func() bool
}

// procRef is what the journal knows of a run's processes, handed to the
// platform code that decides what a stop may signal: Unix signals the
// process group (pgid) while the leader provably is the run; Windows finds
// the run's job object by the run ID.
type procRef struct {
	RunID      string
	PID, PGID  int
	StartTicks uint64
	// Child: still this agent's unreaped child, so its PID cannot have
	// been handed to another process.
	Child bool
}

func (d *daemon) stopRun(ctx context.Context, runID string, grace time.Duration) (string, error) {
	run, ok := d.journal.runRecord(runID)
	if !ok || run.PID == 0 {
		return api.StopAlreadyGone, nil
	}
	t, err := d.targetOf(run)
	if err != nil || t == nil {
		return api.StopAlreadyGone, err
	}
	t.signal(sigTERM)
	if waitGone(ctx, t.alive, grace) {
		return d.sweep(runID, api.StopTerminated), nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	d.record(run.CmdID, func(r *Record) { r.KilledBy = "SIGKILL" })
	t.signal(sigKILL)
	waitGone(ctx, t.alive, 5*time.Second)
	return d.sweep(runID, api.StopKilled), nil
}

// targetOf decides what a stop may signal (runTarget, per platform). A
// recorded PID the kernel has handed to someone else is never signalled.
func (d *daemon) targetOf(run Record) (*target, error) {
	d.mu.Lock()
	child := d.children[run.RunID]
	d.mu.Unlock()
	return runTarget(procRef{RunID: run.RunID, PID: run.PID, PGID: run.PGID, StartTicks: run.StartTicks, Child: child})
}

// sweep kills what is left of the run outside what the target reached
// (its process group; on Windows its job); outcome becomes killed if
// anything was.
func (d *daemon) sweep(runID, outcome string) string {
	if killStragglers(runID) {
		outcome = api.StopKilled
	}
	return outcome
}

// waitGone polls alive until it is false (true) or the time is up.
func waitGone(ctx context.Context, alive func() bool, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for alive() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return !alive()
		case <-tick.C:
		}
	}
	return true
}
