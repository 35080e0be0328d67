package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/agent/internal/supervise"
	"github.com/argus-exec/argus/server/api"
)

// rerun starts a recorded command at most once per command id: the
// journal record is written (and synced) before the process is started, and
// a command id the journal already has is never started again. Before
// that, a rerun past its deadline is refused, and the server is asked
// whether the run still wants starting (queue.go: cancelled or expired
// runs do not).
//
// The question and the journal write go on at once, since each takes a
// round trip or an fsync (about a millisecond) and neither needs the
// other; the process is spawned only when both are done: the record is
// durable and the server said yes. So a cancelled or expired run is never
// started, and a started one is always journaled first. The record may
// thus exist before the answer. When the answer is no, or cannot be had,
// the record is taken back (journal.remove), and the command is as if never
// journaled, as before the two overlapped: a redelivery (after a "could
// not ask") is asked afresh and started on a yes, and nothing stays behind
// to make it look handled. Removing, rather than a new record state, keeps
// every reader of the journal (the redelivery check, stops' runRecord,
// recovery, the outbox, prune) on one rule: a record is a command that may
// have been started. A crash between the journal write and the answer
// leaves a "starting" record without a process, which recovery settles as
// failed (recover.go), as it did a crash between the journal write and the
// spawn: the server takes that ack whether the command is still delivered
// (the question never arrived) or starting, and answers 409 to it for a
// run cancelled or expired meanwhile, which the outbox drops. Nothing is
// started twice, and nothing is started without a yes.
func (d *daemon) rerun(ctx context.Context, c api.Command, received time.Time) {
	log := d.log.With().Str("cmd_id", c.ID).Str("run_id", c.RunID).Logger()
	fault("received")
	if _, ok := d.journal.get(c.ID); ok {
		// A redelivery (the ack was lost, or the lease ran out): say again
		// what was done, and do nothing else.
		d.resendAck(c.ID)
		return
	}
	if late := lateBy(c, received, time.Now()); late > 0 {
		d.refuseExpired(c, late)
		return
	}
	fault("before-start")
	answer := make(chan bool, 1)
	go func() { answer <- d.mayStart(ctx, c) }()
	base := filepath.Join(d.logDir, safeName(c.RunID))
	rec := Record{
		CmdID: c.ID, Kind: api.KindRerun, RunID: c.RunID, BatchID: c.BatchID, State: stateStarting,
		LogPath: base + ".log", StatusPath: base + ".exit", Ship: true,
	}
	if c.Rerun != nil {
		rec.TimeoutMS = c.Rerun.TimeoutMS
	}
	jerr := d.journal.create(rec)
	if jerr == nil {
		fault("after-journal") // journaled; the answer may still be on its way
	}
	// Always wait for the answer, even when the journal failed: the
	// question then ends inside this command's handling (dispatch's
	// inflight, the daemon's wait on shutdown), not after it.
	yes := <-answer
	if jerr != nil {
		// Not journaled, so not started. If the server said yes, the
		// command stays starting there (no longer cancellable, as when the
		// journal failed after the question); its lease runs out, it is
		// delivered again, the start step says yes again to a starting
		// command, and it is journaled then.
		log.Error().Err(jerr).Msg("cannot journal the command; not starting it")
		return
	}
	if !yes {
		d.unjournal(c)
		return
	}
	fault("after-start") // journaled and the server said yes; not spawned yet
	run, err := d.start(c, rec.LogPath, rec.StatusPath)
	if err != nil {
		log.Warn().Err(err).Msg("run could not start")
		d.record(c.ID, func(r *Record) { r.State = stateFailed; r.Ack = &api.AckRequest{Error: err.Error()} })
		return
	}
	fault("before-record") // spawned, its start not journaled yet
	p, sup := run.Leader, run.Supervisor
	now := time.Now().UTC()
	d.record(c.ID, func(r *Record) {
		r.State, r.PID, r.PGID, r.StartTicks, r.StartedAt = stateRunning, p.PID, p.Group, p.StartTime, now
		r.SupervisorPID, r.SupervisorStart = sup.PID, sup.StartTime
		r.Deadline = deadlineFrom(now, r.TimeoutMS)
		r.Ack = &api.AckRequest{PID: p.PID, StartedAt: &now}
	})
	log.Info().Int("pid", p.PID).Msg("run started")
	fault("after-spawn")
	go d.waitRun(run, c.ID)
	if rec, ok := d.journal.get(c.ID); ok {
		d.armTimeout(ctx, rec)
	}
}

// unjournal takes back the record of a rerun that was journaled but not
// started, because the server said no or could not be asked (see rerun).
// If the record cannot be taken back, it must not stay "starting" with
// nothing to report: a redelivery would find it and only resend an ack it
// does not have, and the command would come back every lease. It is
// settled as failed instead (not started; the server answers 409 to that
// ack for a cancelled or expired run, and the outbox drops it), which is
// also what recovery makes of it after a crash.
func (d *daemon) unjournal(c api.Command) {
	log := d.log.With().Str("cmd_id", c.ID).Str("run_id", c.RunID).Logger()
	err := d.journal.remove(c.ID)
	if err == nil {
		log.Debug().Msg("rerun not started: its journal record is taken back")
		return
	}
	log.Error().Err(err).Msg("cannot take back the journal record of a rerun that was not started")
	if _, still := d.journal.get(c.ID); still {
		d.record(c.ID, func(r *Record) {
			r.State = stateFailed
			r.Ack = &api.AckRequest{Error: "the agent did not start it (the server said not to, or could not be asked) and could not clear its journal record: " + err.Error()}
		})
	}
}

// start launches the command under a supervisor (supervise.Start, which
// calls proc.Start: its own process group, and on Windows its own job), in
// the recorded cwd, with the recorded environment (minus tokens), output
// to the run's log file, its exit status to statusPath.
func (d *daemon) start(c api.Command, logPath, statusPath string) (*supervise.Run, error) {
	spec := c.Rerun
	if spec == nil || spec.Command.IsZero() {
		return nil, errors.New("the command carries nothing to run")
	}
	if st, err := os.Stat(spec.Cwd); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("working directory %q does not exist on this host", spec.Cwd)
	}
	run, err := supervise.Start(proc.Command{
		RunID: c.RunID, Argv: spec.Command.Argv, Shell: spec.Command.Shell, Dir: spec.Cwd,
		Env: runEnv(spec.Env, c.RunID, c.BatchID, d.cfg.Properties), LogPath: logPath,
	}, statusPath, d.cfg.GracePeriod)
	if err == nil {
		proc.HoldRun(c.RunID)
	}
	return run, err
}

// waitRun waits until the run's supervisor has recorded the run's end
// (or is gone), and records how the run ended.
func (d *daemon) waitRun(run *supervise.Run, cmdID string) {
	exit, err := run.Wait()
	if err != nil {
		d.log.Warn().Err(err).Str("cmd_id", cmdID).Msg("the run's exit is unknown")
		latest, _ := d.journal.get(cmdID)
		d.finish(cmdID, deadRunExit(latest))
		return
	}
	d.finish(cmdID, exitReport(exit))
}

// finish records a run's end with its output tail and queues the report.
func (d *daemon) finish(cmdID string, exit api.ExitReport) {
	rec, _ := d.journal.get(cmdID)
	// The exact bytes, and text for a server that predates them (it would
	// ignore output_tail_b64, an unknown key to it).
	out := outputTail(rec.LogPath, api.MaxOutputTail)
	exit.OutputTailB64, exit.OutputTail = out, api.TextForOldServers(out)
	if rec.TimedOut {
		exit.StopReason = api.StopReasonTimeout
	}
	if rec.Ship {
		exit.LogSize = logSize(rec.LogPath)
	}
	d.record(cmdID, func(r *Record) { r.State = stateEnded; r.Exit = &exit })
	d.endWatch(rec.RunID)
	d.log.Info().Str("run_id", rec.RunID).Interface("exit_code", exit.ExitCode).Str("signal", exit.Signal).
		Bool("unknown", exit.Unknown).Msg("run ended")
}

// record updates a journal record and wakes the outbox. A failed write is
// logged: the process state is what it is, and recovery re-derives it.
func (d *daemon) record(cmdID string, fn func(*Record)) {
	if _, err := d.journal.update(cmdID, fn); err != nil {
		d.log.Error().Err(err).Str("cmd_id", cmdID).Msg("journal write failed")
	}
	d.kickOutbox()
}

// resendAck makes the outbox send a command's ack again.
func (d *daemon) resendAck(cmdID string) {
	d.record(cmdID, func(r *Record) {
		if r.Ack != nil {
			r.AckSent = false
		}
	})
}

// outputTail reads the last max bytes of a run's log, whatever they are,
// from the first whole line on when the log is longer; nil when there are
// none.
func outputTail(path string, max int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	cut := false
	if st, err := f.Stat(); err == nil && st.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return nil
		}
		cut = true
	}
	data, _ := io.ReadAll(io.LimitReader(f, max))
	if cut {
		data = fromLineStart(data)
	}
	if len(data) == 0 {
		return nil
	}
	return data
}

func safeName(id string) string {
	if safeID.MatchString(id) {
		return id
	}
	return fmt.Sprintf("run-%x", id)
}
