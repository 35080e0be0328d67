package agent

import (
	"context"
	"errors"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/agent/internal/supervise"
	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// recover picks up where a previous agent left off: runs still alive are
// watched to their end; runs that ended while no agent watched are
// reported with the exit their supervisor wrote (exit unknown only when
// there is none: a record of an agent that predates supervisors, or a
// supervisor that was killed itself); a command journaled but perhaps
// never started is settled without starting it; unsent acks and exits go
// out through the outbox.
func (d *daemon) recover(ctx context.Context) {
	// A command caught mid-start may have a supervisor writing its run's
	// end just now: until then it is given the time a watch gives one.
	settleBy := time.Now().Add(unknownSupervisorGrace)
	for _, rec := range d.journal.records() {
		if rec.Kind == api.KindStop && rec.State == stateStopping {
			d.resumeStop(ctx, rec)
			continue
		}
		if rec.Kind != api.KindRerun {
			continue
		}
		switch rec.State {
		case stateStarting:
			d.settleStarting(ctx, rec, settleBy)
		case stateRunning:
			d.reattach(ctx, rec)
		}
	}
	d.kickOutbox()
}

// restartWait bounds announceRestart: without an answer the leases still
// bring the lost deliveries back, later.
const restartWait = 5 * time.Second

// announceRestart tells the server this agent has just started and which
// commands its journal holds unacknowledged: every other command delivered
// to it before (to a process that died before journaling it, so never
// started it) is handed out again at once, instead of when its lease ends.
// Once, before the first poll; an older server (404) or none at all only
// leaves those to their leases.
func (d *daemon) announceRestart(ctx context.Context) {
	holding := []string{}
	for _, rec := range d.journal.records() {
		if rec.Ack == nil || !rec.AckSent {
			holding = append(holding, rec.CmdID)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, restartWait)
	defer cancel()
	n, err := d.conn().Restarted(ctx, d.agentID, holding)
	switch {
	case errors.Is(err, client.ErrNotFound):
		d.log.Debug().Msg("the server does not take restart announcements; lost deliveries come back with their leases")
	case err != nil:
		d.log.Warn().Err(err).Msg("could not announce the restart; lost deliveries come back with their leases")
	case n > 0:
		d.log.Info().Int("commands", n).Msg("deliveries this agent never journaled are handed out again")
	}
}

// settleStarting handles a crash between journaling a command and
// recording its process (perhaps before the server's answer to the start
// step, which rerun awaits beside the journal write; without a yes
// nothing was spawned, and the failed ack below is taken by the server for
// a command delivered or starting, and refused with 409, then dropped, for
// one cancelled or expired). A status file means the run was started and
// has ended: both are reported as its supervisor saw them. Else, if a
// process of the run exists it was started: adopt it. If none does, it is
// not started now either — the run fails — since it might have started
// and ended, and a command runs at most once.
func (d *daemon) settleStarting(ctx context.Context, rec Record, settleBy time.Time) {
	for {
		if rec.StatusPath != "" {
			exit, found, err := supervise.ReadExit(rec.StatusPath)
			if found && err == nil {
				d.settleEnded(rec, exit)
				return
			}
			if err != nil {
				d.log.Warn().Err(err).Str("run_id", rec.RunID).Msg("unreadable status file of a run being started")
			}
		}
		if p, found := proc.FindLeader(rec.RunID); found {
			d.adoptStarted(ctx, rec, p)
			return
		}
		// Neither a record nor a process: the run may have ended just
		// before this agent started, its supervisor still writing the
		// record (seen under load); until settleBy, look again.
		if rec.StatusPath == "" || !time.Now().Before(settleBy) || !ctxsleep.Sleep(ctx, watchEvery) {
			break
		}
	}
	d.log.Warn().Str("run_id", rec.RunID).Msg("agent stopped while starting this run; not starting it again")
	d.record(rec.CmdID, func(r *Record) {
		r.State = stateFailed
		r.Ack = &api.AckRequest{Error: "the agent stopped while starting this command; it was not started again so that it cannot run twice"}
	})
}

// adoptStarted journals a run found running after a crash mid-start, and
// watches it to its end.
func (d *daemon) adoptStarted(ctx context.Context, rec Record, p proc.Process) {
	now := time.Now().UTC()
	rec, err := d.journal.update(rec.CmdID, func(r *Record) {
		r.State, r.PID, r.PGID, r.StartTicks, r.StartedAt = stateRunning, p.PID, p.Group, p.StartTime, now
		// Its real start is unknown: the timeout counts from now, so a
		// run is never cut short. Its supervisor is unknown too (the
		// watch allows for that).
		r.Deadline = deadlineFrom(now, r.TimeoutMS)
		r.Ack = &api.AckRequest{PID: p.PID, StartedAt: &now}
	})
	if err != nil {
		d.log.Error().Err(err).Msg("journal write failed")
		return
	}
	d.reattach(ctx, rec)
}

// settleEnded reports a run that started and ended while its start was
// not yet journaled, with the start and the end its supervisor recorded.
func (d *daemon) settleEnded(rec Record, exit supervise.Exit) {
	started := exit.StartedAt.UTC()
	d.log.Info().Str("run_id", rec.RunID).Msg("agent stopped while starting this run; it ran and ended meanwhile")
	d.record(rec.CmdID, func(r *Record) {
		r.State, r.PID, r.StartedAt = stateRunning, exit.Leader, started
		r.Ack = &api.AckRequest{PID: exit.Leader, StartedAt: &started}
	})
	d.finish(rec.CmdID, exitReport(exit))
}

// reattach watches a run started by an earlier agent until it ends.
func (d *daemon) reattach(ctx context.Context, rec Record) {
	w := newRunWatch(rec)
	if over, exit, err := w.check(time.Now()); over {
		d.finish(rec.CmdID, d.endReport(rec, exit, err))
		return
	}
	d.log.Info().Str("run_id", rec.RunID).Int("pid", rec.PID).Int("supervisor_pid", rec.SupervisorPID).
		Msg("re-attached to a running run")
	d.armTimeout(ctx, rec) // a deadline that passed meanwhile fires at once
	go func() {
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if over, exit, err := w.check(now); over {
					d.finish(rec.CmdID, d.endReport(rec, exit, err))
					return
				}
			}
		}
	}()
}

// endReport is the report for a run that is over: the exit its
// supervisor wrote, else deadRunExit of its latest record (err: why the
// supervisor's record could not be read).
func (d *daemon) endReport(rec Record, exit *supervise.Exit, err error) api.ExitReport {
	if exit != nil {
		return exitReport(*exit)
	}
	if err != nil {
		d.log.Warn().Err(err).Str("run_id", rec.RunID).Msg("the run's exit is unknown")
	}
	latest, _ := d.journal.get(rec.CmdID)
	return deadRunExit(latest)
}

// exitReport is a supervisor's record of a run's end, as the server takes it.
func exitReport(e supervise.Exit) api.ExitReport {
	return api.ExitReport{ExitCode: e.Code, Signal: e.Signal, EndedAt: e.EndedAt.UTC(), LeftProcesses: e.Left}
}

// deadRunExit is the report for a run whose end nobody recorded (no
// supervisor, or one that died first): its status cannot be known,
// unless a stop killed it.
func deadRunExit(rec Record) api.ExitReport {
	if rec.KilledBy != "" {
		return api.ExitReport{Signal: rec.KilledBy, EndedAt: time.Now().UTC()}
	}
	return api.ExitReport{Unknown: true, EndedAt: time.Now().UTC()}
}
