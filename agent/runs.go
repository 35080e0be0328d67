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
	"github.com/argus-exec/argus/server/api"
)

// rerun starts a recorded command at most once per command id: the
// journal record is written (and synced) before the process is started, and
// a command id the journal already has is never started again. Before
// that, a rerun past its deadline is refused, and the server is asked
// whether the run still wants starting (queue.go: cancelled or expired
// runs do not).
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
	if !d.mayStart(ctx, c) {
		return
	}
	fault("after-start")
	rec := Record{
		CmdID: c.ID, Kind: api.KindRerun, RunID: c.RunID, BatchID: c.BatchID, State: stateStarting,
		LogPath: filepath.Join(d.logDir, safeName(c.RunID)+".log"),
	}
	if c.Rerun != nil {
		rec.TimeoutMS = c.Rerun.TimeoutMS
	}
	if err := d.journal.create(rec); err != nil {
		// Not journaled, so not started: the server redelivers later.
		log.Error().Err(err).Msg("cannot journal the command; not starting it")
		return
	}
	fault("after-journal")
	child, err := d.start(c, rec.LogPath)
	if err != nil {
		log.Warn().Err(err).Msg("run could not start")
		d.record(c.ID, func(r *Record) { r.State = stateFailed; r.Ack = &api.AckRequest{Error: err.Error()} })
		return
	}
	p := child.Process
	now := time.Now().UTC()
	d.mu.Lock()
	d.children[c.RunID] = true
	d.mu.Unlock()
	d.record(c.ID, func(r *Record) {
		r.State, r.PID, r.PGID, r.StartTicks, r.StartedAt = stateRunning, p.PID, p.Group, p.StartTime, now
		r.Deadline = deadlineFrom(now, r.TimeoutMS)
		r.Ack = &api.AckRequest{PID: p.PID, StartedAt: &now}
	})
	log.Info().Int("pid", p.PID).Msg("run started")
	fault("after-spawn")
	go d.waitChild(child, c.ID, c.RunID)
	if rec, ok := d.journal.get(c.ID); ok {
		d.armTimeout(ctx, rec)
	}
}

// start launches the command (proc.Start: its own process group, and on
// Windows its own job), in the recorded cwd, with the recorded environment
// (minus tokens), output to the run's log file.
func (d *daemon) start(c api.Command, logPath string) (*proc.Child, error) {
	spec := c.Rerun
	if spec == nil || spec.Command.IsZero() {
		return nil, errors.New("the command carries nothing to run")
	}
	if st, err := os.Stat(spec.Cwd); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("working directory %q does not exist on this host", spec.Cwd)
	}
	return proc.Start(proc.Command{
		RunID: c.RunID, Argv: spec.Command.Argv, Shell: spec.Command.Shell, Dir: spec.Cwd,
		Env: runEnv(spec.Env, c.RunID, c.BatchID, d.cfg.Properties), LogPath: logPath,
	})
}

// waitChild reaps a run this agent started and records how it ended.
func (d *daemon) waitChild(child *proc.Child, cmdID, runID string) {
	code, signal := child.Wait()
	d.mu.Lock()
	delete(d.children, runID)
	d.mu.Unlock()
	exit := api.ExitReport{EndedAt: time.Now().UTC(), ExitCode: code, Signal: signal}
	if exit.ExitCode == nil && exit.Signal == "" {
		exit.Unknown = true
	}
	d.finish(cmdID, exit)
}

// finish records a run's end with its output tail and queues the report.
func (d *daemon) finish(cmdID string, exit api.ExitReport) {
	rec, _ := d.journal.get(cmdID)
	exit.OutputTail = outputTail(rec.LogPath, api.MaxOutputTail)
	if rec.TimedOut {
		exit.StopReason = api.StopReasonTimeout
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

// outputTail reads the last max bytes of a run's log.
func outputTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(io.LimitReader(f, max))
	return string(data)
}

func safeName(id string) string {
	if safeID.MatchString(id) {
		return id
	}
	return fmt.Sprintf("run-%x", id)
}
