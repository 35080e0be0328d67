package agent

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// stopPoll is how often a stop checks whether the run's group is gone:
// small against the grace period, so the stop ends close to the group.
const stopPoll = 10 * time.Millisecond

// stop ends a run: SIGTERM to its process group, the grace period, then
// SIGKILL, then a sweep of processes that left the group but still carry
// the run's ARGUS_RUN_ID. It acks terminated, killed or already_gone.
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

// targetOf decides what a stop may signal. The group, by its leader's
// PID, only while that PID provably is still the run (the agent's own
// unreaped child, or a matching start time): a recorded PID the kernel
// has handed to someone else is never signalled. Otherwise only processes
// that carry the run's ARGUS_RUN_ID.
func (d *daemon) targetOf(run Record) (*target, error) {
	d.mu.Lock()
	child := d.children[run.RunID]
	d.mu.Unlock()
	if child || sameProcess(run.PID, run.StartTicks) {
		return &target{
			signal: func(s syscall.Signal) { _ = signalGroup(run.PGID, s) },
			alive:  groupWatch(run.PGID),
		}, nil
	}
	if stillRunning(run.PID, run.StartTicks) {
		return nil, errors.New("cannot verify that the recorded PID is still this run on this platform; not signalling it")
	}
	if len(processesOfRun(run.RunID)) == 0 {
		return nil, nil
	}
	return &target{
		signal: func(s syscall.Signal) {
			for _, pid := range processesOfRun(run.RunID) {
				_ = signalPID(pid, s)
			}
		},
		alive: func() bool { return len(processesOfRun(run.RunID)) > 0 },
	}, nil
}

// sweep kills what is left of the run outside its group; outcome becomes
// killed if anything was.
func (d *daemon) sweep(runID, outcome string) string {
	for _, pid := range processesOfRun(runID) {
		if signalPID(pid, sigKILL) == nil {
			outcome = api.StopKilled
		}
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

// groupWatch checks the kernel's view of the group on every call (one
// kill(2)) and confirms it with the zombie-aware /proc scan only every
// third call: a stop polls for the whole grace period and must cost
// little, yet notices a group of zombies within a few ticks.
func groupWatch(pgid int) func() bool {
	calls := 0
	return func() bool {
		if !anyInGroup(pgid) {
			return false
		}
		calls++
		return calls%3 != 0 || groupAlive(pgid)
	}
}
