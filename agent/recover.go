package agent

import (
	"context"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/server/api"
)

// watchEvery is how often a re-attached run (no longer this agent's child,
// so no wait to block on) is checked for its end.
const watchEvery = 500 * time.Millisecond

// recover picks up where a previous agent left off: runs still alive are
// watched to their end; runs that ended while no agent watched are
// reported with an unknown exit status; a command journaled but perhaps
// never started is settled without starting it; unsent acks and exits go
// out through the outbox.
func (d *daemon) recover(ctx context.Context) {
	for _, rec := range d.journal.records() {
		if rec.Kind != api.KindRerun {
			continue
		}
		switch rec.State {
		case stateStarting:
			d.settleStarting(ctx, rec)
		case stateRunning:
			d.reattach(ctx, rec)
		}
	}
	d.kickOutbox()
}

// settleStarting handles a crash between journaling a command and
// recording its process (perhaps before the server's answer to the start
// step, which rerun awaits beside the journal write; without a yes
// nothing was spawned, and the failed ack below is taken by the server for
// a command delivered or starting, and refused with 409, then dropped, for
// one cancelled or expired). If a process of the run exists it was started:
// adopt it. If none does, it is not started now either — the run fails —
// since it might have started and ended, and a command runs at most once.
func (d *daemon) settleStarting(ctx context.Context, rec Record) {
	p, found := proc.FindLeader(rec.RunID)
	if !found {
		d.log.Warn().Str("run_id", rec.RunID).Msg("agent stopped while starting this run; not starting it again")
		d.record(rec.CmdID, func(r *Record) {
			r.State = stateFailed
			r.Ack = &api.AckRequest{Error: "the agent stopped while starting this command; it was not started again so that it cannot run twice"}
		})
		return
	}
	now := time.Now().UTC()
	rec, err := d.journal.update(rec.CmdID, func(r *Record) {
		r.State, r.PID, r.PGID, r.StartTicks, r.StartedAt = stateRunning, p.PID, p.Group, p.StartTime, now
		// Its real start is unknown: the timeout counts from now, so a
		// run is never cut short.
		r.Deadline = deadlineFrom(now, r.TimeoutMS)
		r.Ack = &api.AckRequest{PID: p.PID, StartedAt: &now}
	})
	if err != nil {
		d.log.Error().Err(err).Msg("journal write failed")
		return
	}
	d.reattach(ctx, rec)
}

// reattach watches a run started by an earlier agent until it ends.
func (d *daemon) reattach(ctx context.Context, rec Record) {
	leader := proc.Process{PID: rec.PID, Group: rec.PGID, StartTime: rec.StartTicks}
	if !leader.Running() {
		d.finish(rec.CmdID, deadRunExit(rec))
		return
	}
	d.log.Info().Str("run_id", rec.RunID).Int("pid", rec.PID).Msg("re-attached to a running run")
	d.armTimeout(ctx, rec) // a deadline that passed meanwhile fires at once
	go func() {
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		for leader.Running() {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		latest, _ := d.journal.get(rec.CmdID)
		d.finish(rec.CmdID, deadRunExit(latest))
	}()
}

// deadRunExit is the report for a run that was not this agent's child
// when it ended: its status cannot be known, unless a stop killed it.
func deadRunExit(rec Record) api.ExitReport {
	if rec.KilledBy != "" {
		return api.ExitReport{Signal: rec.KilledBy, EndedAt: time.Now().UTC()}
	}
	return api.ExitReport{Unknown: true, EndedAt: time.Now().UTC()}
}
