package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

const runCols = `r.id, r.batch_id, r.agent_id, r.status, r.pid, r.exit_code, r.signal,
	r.exit_unknown, r.error, r.output, r.rerun_cmd_id, r.stop_cmd_id,
	r.stop_outcome, r.created_at, r.started_at, r.ended_at,
	r.requested_by, r.stopped_by, r.stop_reason, r.timeout_ms, r.left_processes`

func scanRun(r row) (store.Run, error) {
	var run store.Run
	var status string
	var exitCode, started, ended sql.NullInt64
	var created, timeoutMS int64
	var output []byte
	err := r.Scan(&run.ID, &run.BatchID, &run.AgentID, &status, &run.PID, &exitCode,
		&run.Signal, &run.ExitUnknown, &run.Error, &output, &run.RerunCmdID,
		&run.StopCmdID, &run.StopOutcome, &created, &started, &ended,
		&run.RequestedBy, &run.StoppedBy, &run.StopReason, &timeoutMS, &run.LeftProcesses)
	if err != nil {
		return store.Run{}, err
	}
	run.Status = api.RunStatus(status)
	run.OutputTail = string(output)
	if exitCode.Valid {
		code := int(exitCode.Int64)
		run.ExitCode = &code
	}
	run.CreatedAt = goTime(created)
	run.StartedAt = goTimePtr(started)
	run.EndedAt = goTimePtr(ended)
	run.Timeout = time.Duration(timeoutMS) * time.Millisecond
	return run, nil
}

// runByIDSQL reads one run; runForUpdate locks it (Dialect.ForUpdate).
const runByIDSQL = `SELECT ` + runCols + ` FROM runs r WHERE r.id = ?`

// runForUpdate reads a run inside a transaction that will change it.
func runForUpdate(ctx context.Context, c conn, id string) (store.Run, error) {
	r, err := scanRun(c.row(ctx, runByIDSQL+c.s.d.ForUpdate, id))
	return r, notFound(err, "run", id)
}

const updateRunSQL = `UPDATE runs SET status = ?, pid = ?, exit_code = ?, signal = ?,
		exit_unknown = ?, error = ?, output = ?, stop_cmd_id = ?, stop_outcome = ?,
		started_at = ?, ended_at = ?, stopped_by = ?, stop_reason = ?, left_processes = ? WHERE id = ?`

// updateRun writes every mutable column of r.
func updateRun(ctx context.Context, c conn, r store.Run) error {
	var exitCode any
	if r.ExitCode != nil {
		exitCode = *r.ExitCode
	}
	_, err := c.exec(ctx, updateRunSQL,
		string(r.Status), r.PID, exitCode, r.Signal, r.ExitUnknown, r.Error, outputBytes(r.OutputTail),
		r.StopCmdID, r.StopOutcome, dbTimePtr(r.StartedAt), dbTimePtr(r.EndedAt),
		r.StoppedBy, r.StopReason, r.LeftProcesses, r.ID)
	if err != nil || r.EndedAt == nil {
		return err
	}
	// Every way a run ends passes here: note the end, once, in the same
	// transaction, for the webhooks (ExpandRunEvents).
	_, err = c.exec(ctx, `INSERT INTO run_events (run_id, created_at) VALUES (?, ?) ON CONFLICT (run_id) DO NOTHING`,
		r.ID, dbTime(*r.EndedAt))
	return err
}

// outputBytes is a run's output as the driver must see it: []byte binds as
// BYTEA/BLOB, where a string would bind as text, which PostgreSQL refuses
// when it holds NUL or invalid UTF-8. No output is NULL.
func outputBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// QueueRerun stores r as a queued run and c as its queued rerun command,
// together. Empty cross-references (r.RerunCmdID, c.RunID, c.AgentID) are
// filled from the other record.
func (s *Store) QueueRerun(ctx context.Context, r store.Run, c store.Command) error {
	return s.queueRerun(ctx, r, c, nil)
}

// QueueRerunOnce is QueueRerun with the key's record in the same
// transaction: a key used before rolls it all back, as ErrExists.
func (s *Store) QueueRerunOnce(ctx context.Context, r store.Run, c store.Command, k store.Idempotency) error {
	return s.queueRerun(ctx, r, c, &k)
}

func (s *Store) queueRerun(ctx context.Context, r store.Run, c store.Command, k *store.Idempotency) error {
	r.Status = api.RunQueued
	if r.RerunCmdID == "" {
		r.RerunCmdID = c.ID
	}
	if c.RunID == "" {
		c.RunID = r.ID
	}
	if c.AgentID == "" {
		c.AgentID = r.AgentID
	}
	err := s.inTx(ctx, func(tx conn) error {
		if k != nil {
			if err := insertIdempotency(ctx, tx, *k); err != nil {
				return err
			}
		}
		// The batch's owner and project come with the run (schemaV20);
		// a missing batch still fails on the batch_id reference.
		_, err := tx.exec(ctx, `INSERT INTO runs
			(id, batch_id, agent_id, status, rerun_cmd_id, created_at, requested_by, timeout_ms, batch_owner_id, batch_project)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?,
				COALESCE((SELECT owner_id FROM batches WHERE id = ?), ''), COALESCE((SELECT project FROM batches WHERE id = ?), ''))`,
			r.ID, r.BatchID, r.AgentID, string(r.Status), r.RerunCmdID, dbTime(r.CreatedAt), r.RequestedBy,
			r.Timeout.Milliseconds(), r.BatchID, r.BatchID)
		if err != nil {
			return err
		}
		return insertCommand(ctx, tx, c)
	})
	if err != nil {
		return fmt.Errorf("queue rerun %q: %w", r.ID, s.classify(err))
	}
	return nil
}

// QueueStop stores stop command c for a running run and moves the run to
// stopping, in one transaction. ErrConflict, and nothing written, unless
// the run is running.
func (s *Store) QueueStop(ctx context.Context, runID string, c store.Command) (store.Run, error) {
	var r store.Run
	err := s.inTx(ctx, func(tx conn) error {
		var err error
		if r, err = runForUpdate(ctx, tx, runID); err != nil {
			return err
		}
		if r.Status != api.RunRunning {
			return fmt.Errorf("run %q is %s, not running: %w", runID, r.Status, store.ErrConflict)
		}
		c.RunID = runID
		if c.AgentID == "" {
			c.AgentID = r.AgentID
		}
		if err := insertCommand(ctx, tx, c); err != nil {
			return err
		}
		// The outcome belongs to the run's current stop: one left from an
		// earlier, failed stop would keep ReportExit from recording that
		// this one never reached the agent.
		r.Status, r.StopCmdID, r.StopOutcome = api.RunStopping, c.ID, ""
		r.StoppedBy, r.StopReason = "", ""
		if spec := c.Payload.Stop; spec != nil {
			r.StoppedBy, r.StopReason = spec.StoppedBy, spec.Reason
		}
		return updateRun(ctx, tx, r)
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("queue stop: %w", err)
	}
	return r, nil
}

// ReportExit records how the agent's run ended. A run that has ended
// already keeps its first report and is returned as it is. Stop commands
// of the run that were never delivered are acked as already_gone in the
// same transaction, and the run's stop outcome says so unless it has one.
func (s *Store) ReportExit(ctx context.Context, agentID, runID string, e api.ExitReport) (store.Run, error) {
	var r store.Run
	err := s.inTx(ctx, func(tx conn) error {
		var err error
		if r, err = runForUpdate(ctx, tx, runID); err != nil {
			return err
		}
		if r.AgentID != agentID {
			return fmt.Errorf("run %q of agent %q: %w", runID, agentID, store.ErrNotFound)
		}
		if r.Status.Ended() {
			return nil
		}
		if r.Status == api.RunQueued {
			// Never acked as started: an exit now would end a run that
			// may still be delivered and started after it "ended".
			return fmt.Errorf("run %q was never acked as started: %w", runID, store.ErrConflict)
		}
		// A stop still queued never reached the agent: the run ended on
		// its own, so it exited rather than stopped.
		stopDelivered := r.Status == api.RunStopping
		applyExit(&r, e)
		gone, err := ackQueuedStops(ctx, tx, r.ID, *r.EndedAt)
		if err != nil {
			return err
		}
		if gone && r.StopOutcome == "" {
			r.StopOutcome = api.StopAlreadyGone
		}
		if stopDelivered && !gone {
			r.Status = api.RunStopped
		}
		// The agent stopped it itself (its timeout ran out): stopped, and
		// why, even with no stop command.
		if e.StopReason != "" {
			r.Status, r.StopReason = api.RunStopped, e.StopReason
		}
		if err := setLogSize(ctx, tx, r.ID, e.LogSize); err != nil {
			return err
		}
		return updateRun(ctx, tx, r)
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("report exit: %w", err)
	}
	return r, nil
}

// applyExit records the end of r as exited; ReportExit makes it stopped
// when a stop had reached the agent.
func applyExit(r *store.Run, e api.ExitReport) {
	r.Status = api.RunExited
	if e.ExitCode != nil {
		code := *e.ExitCode
		r.ExitCode = &code
	}
	r.Signal, r.ExitUnknown = e.Signal, e.Unknown
	r.LeftProcesses = max(e.LeftProcesses, 0)
	ended := e.EndedAt
	if ended.IsZero() {
		ended = time.Now()
	}
	ended = goTime(dbTime(ended))
	r.EndedAt = &ended
	r.OutputTail = tail(e.Output(), api.MaxOutputTail)
}

// tail keeps the last max bytes of s, starting at a rune boundary so the
// stored bytes stay valid UTF-8 when s was (s may be any bytes: a byte
// that starts no rune is skipped only when it continues one).
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	start := len(s) - max
	for i := 0; i < utf8.UTFMax && start < len(s) && !utf8.RuneStart(s[start]); i++ {
		start++
	}
	return s[start:]
}

// Run finds a run by id.
func (s *Store) Run(ctx context.Context, id string) (store.Run, error) {
	r, err := scanRun(s.pool().row(ctx, runByIDSQL, id))
	return r, notFound(err, "run", id)
}

// ListRunsForUser returns one page of the runs of every batch userID may
// see, narrowed by f, newest first.
func (s *Store) ListRunsForUser(ctx context.Context, userID string, f store.RunFilter, p store.Page) ([]store.Run, bool, error) {
	query, args, err := s.listRunsQuery(ctx, userID, f, p)
	return listPage(ctx, s, "list runs", query, args, err, scanRun, p)
}

// listRunsSQL is ListRunsForUser's query and arguments as one condition,
// for a narrowed list or a user who sees many projects (visible_lists.go).
func listRunsSQL(userID string, f store.RunFilter, p store.Page) (string, []any, error) {
	q := pageQuery{table: "r"}
	q.and(visibleBatch, userID, userID, userID)
	if f.Status != "" {
		q.and("r.status = ?", string(f.Status))
	}
	if f.BatchID != "" {
		q.and("r.batch_id = ?", f.BatchID)
	}
	if f.Project != "" {
		q.and("r.batch_project = ?", f.Project) // runs_batch_project_created
	}
	if f.AgentID != "" {
		q.and("r.agent_id = ?", f.AgentID)
	}
	if f.Host != "" {
		// A run runs on its batch's origin host (reruns go nowhere else).
		q.and("LOWER(b.host) = LOWER(?)", f.Host)
	}
	// Each set of filters is its own query text, so each gets a plan (and
	// a cached statement) that can use the index on its columns; there are
	// at most 2^5 of them, times two for the first page and the rest.
	return q.sql(`SELECT `+runCols+` FROM runs r JOIN batches b ON b.id = r.batch_id`, p)
}
