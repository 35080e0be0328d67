package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// A queued rerun's life: queued → delivered (a poll took it) → starting
// (its agent said it is about to start it, StartCommand) → acked (PID or
// error). Until starting it may instead be cancelled (CancelRun) or expire
// (past its expires_at: claims, StartCommand and the sweep, ExpireRuns).
// Every transaction here that locks a command and its run locks the
// command first, as AckCommand does, so none of them deadlock each other.

// expiredError is the run's error when it expires.
const expiredError = "expired: its agent did not start it before expires_at (argus-server --queue-ttl)"

// pickClaimableSQL is the claim's read; with no run limit it takes only
// what the answer holds (pickClaimableLimitSQL). Both run with
// Dialect.SkipLocked.
const pickClaimableSQL = `SELECT ` + cmdCols + ` FROM commands c WHERE ` + claimable + `
		AND (c.expires_at IS NULL OR c.expires_at >= ? OR c.state = 'starting')
		ORDER BY c.created_at, c.id`

const pickClaimableLimitSQL = pickClaimableSQL + ` LIMIT ?`

// pickClaimable reads the agent's claimable commands, oldest first, locking
// them (SKIP LOCKED on PostgreSQL). Reruns past their deadline are left
// out. With maxRuns > 0, a rerun not yet delivered is taken only while the
// agent's busy runs (busyRuns) stay under maxRuns; redeliveries are already
// counted there, and stops never wait.
func pickClaimable(ctx context.Context, tx conn, agentID string, now time.Time, maxRuns, limit int) ([]store.Command, error) {
	q := pickClaimableSQL
	args := []any{agentID, dbTime(now), dbTime(now)}
	if maxRuns <= 0 {
		q = pickClaimableLimitSQL
		args = append(args, limitArg(limit))
	}
	rows, err := tx.query(ctx, q+tx.s.d.SkipLocked, args...)
	if err != nil {
		return nil, err
	}
	cmds, err := collect(rows, scanCommand)
	if err != nil || maxRuns <= 0 {
		return cmds, err
	}
	busy, err := busyRuns(ctx, tx, agentID)
	if err != nil {
		return nil, err
	}
	out := cmds[:0]
	for _, c := range cmds {
		if c.Kind == api.KindRerun && c.State == store.CmdQueued {
			if busy >= maxRuns {
				continue
			}
			busy++
		}
		out = append(out, c)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// busyRuns counts the agent's runs that hold a slot: running or stopping,
// or on their way (rerun delivered or starting, not acked). One statement,
// so one snapshot: an ack committing between two counts would move a run
// from the second to the first unseen.
const busyRunsSQL = `SELECT
		(SELECT COUNT(*) FROM runs WHERE status IN ('running', 'stopping') AND agent_id = ?) +
		(SELECT COUNT(*) FROM commands WHERE agent_id = ? AND state IN ('delivered', 'starting') AND kind = 'rerun')`

func busyRuns(ctx context.Context, c conn, agentID string) (int, error) {
	var n int
	err := c.row(ctx, busyRunsSQL, agentID, agentID).Scan(&n)
	return n, err
}

// expireDueSQL is the sweep's read of overdue reruns; a claim reads only
// its agent's (expireDueAgentSQL). Both run with Dialect.SkipLocked.
const expireDueSQL = `SELECT c.id, COALESCE(c.run_id, ''), c.expires_at FROM commands c
		WHERE c.state IN ('queued', 'delivered') AND c.kind = 'rerun' AND c.expires_at < ?`

const expireDueAgentSQL = expireDueSQL + ` AND c.agent_id = ?`

// expireDue expires the reruns (of agentID, or of every agent when it is
// "") that were not starting by their deadline. Rows another transaction
// holds are skipped: that one decides them, and the next sweep sees them.
func expireDue(ctx context.Context, tx conn, agentID string, now time.Time) (int, error) {
	q, args := expireDueSQL, []any{dbTime(now)}
	if agentID != "" {
		q = expireDueAgentSQL
		args = append(args, agentID)
	}
	rows, err := tx.query(ctx, q+tx.s.d.SkipLocked, args...)
	if err != nil {
		return 0, err
	}
	type due struct {
		cmd, run string
		at       int64
	}
	list, err := collect(rows, func(r row) (due, error) {
		var d due
		return d, r.Scan(&d.cmd, &d.run, &d.at)
	})
	if err != nil {
		return 0, err
	}
	for _, d := range list {
		if err := expireCommand(ctx, tx, d.cmd, d.run, goTime(d.at)); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}

// expireCommand ends a rerun command, locked by the caller, as expired, and
// its run with it if the run is still queued; the run ended at the deadline.
func expireCommand(ctx context.Context, tx conn, cmdID, runID string, at time.Time) error {
	if _, err := tx.exec(ctx, `UPDATE commands SET state = 'expired' WHERE id = ?`, cmdID); err != nil {
		return err
	}
	if runID == "" {
		return nil
	}
	r, err := runForUpdate(ctx, tx, runID)
	if err != nil || r.Status != api.RunQueued {
		return err
	}
	r.Status, r.EndedAt, r.Error = api.RunExpired, &at, expiredError
	return updateRun(ctx, tx, r)
}

// ExpireRuns is the sweep: every queued run past its deadline, on any
// agent, becomes expired. A plain read first, so that a sweep with nothing
// to do takes no write lock.
func (s *Store) ExpireRuns(ctx context.Context, now time.Time) (int, error) {
	var one int
	err := s.pool().row(ctx, `SELECT 1 FROM commands WHERE state IN ('queued', 'delivered')
		AND kind = 'rerun' AND expires_at < ? LIMIT 1`, dbTime(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("expire runs: %w", err)
	}
	var n int
	err = s.inTx(ctx, func(tx conn) error {
		n, err = expireDue(ctx, tx, "", now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire runs: %w", err)
	}
	return n, nil
}

const startCommandSQL = `UPDATE commands SET state = 'starting' WHERE id = ?`

// StartCommand lets the agent start a delivered rerun unless it was
// cancelled or expired; see store.Store.
func (s *Store) StartCommand(ctx context.Context, agentID, cmdID string, now time.Time) (store.Run, bool, error) {
	var run store.Run
	var start bool
	err := s.inTx(ctx, func(tx conn) error {
		c, err := scanCommand(tx.row(ctx, cmdByIDSQL+tx.s.d.ForUpdate, cmdID))
		if err != nil || c.AgentID != agentID {
			return notFound(orNoRows(err), "command", cmdID)
		}
		if c.Kind != api.KindRerun || c.State == store.CmdQueued {
			return fmt.Errorf("command %q is a %s, %s: %w", cmdID, c.Kind, c.State, store.ErrConflict)
		}
		if c.State == store.CmdDelivered && c.Payload.ExpiresAt != nil && now.After(*c.Payload.ExpiresAt) {
			if err := expireCommand(ctx, tx, c.ID, c.RunID, goTime(dbTime(*c.Payload.ExpiresAt))); err != nil {
				return err
			}
			c.State = store.CmdExpired
		}
		if c.State == store.CmdDelivered {
			if _, err := tx.exec(ctx, startCommandSQL, c.ID); err != nil {
				return err
			}
			c.State = store.CmdStarting
		}
		start = c.State == store.CmdStarting
		run, err = runForUpdate(ctx, tx, c.RunID)
		return err
	})
	if err != nil {
		return store.Run{}, false, fmt.Errorf("start command: %w", err)
	}
	return run, start, nil
}

// CancelRun ends a queued run whose rerun has not been started; see
// store.Store.
func (s *Store) CancelRun(ctx context.Context, runID, stoppedBy, reason string, at time.Time) (store.Run, error) {
	r, err := s.Run(ctx, runID)
	if err != nil {
		return store.Run{}, err
	}
	at = goTime(dbTime(at))
	err = s.inTx(ctx, func(tx conn) error {
		var state string
		err := tx.row(ctx, `SELECT state FROM commands WHERE id = ?`+tx.s.d.ForUpdate, r.RerunCmdID).Scan(&state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if r, err = runForUpdate(ctx, tx, runID); err != nil {
			return err
		}
		if r.Status != api.RunQueued {
			return fmt.Errorf("run %q is %s, not queued: %w", runID, r.Status, store.ErrConflict)
		}
		switch store.CommandState(state) {
		case store.CmdQueued, store.CmdDelivered:
		case store.CmdStarting:
			return fmt.Errorf("run %q: %w", runID, store.ErrStarting)
		default:
			return fmt.Errorf("run %q has its rerun %s: %w", runID, state, store.ErrConflict)
		}
		if _, err := tx.exec(ctx, `UPDATE commands SET state = 'cancelled' WHERE id = ?`, r.RerunCmdID); err != nil {
			return err
		}
		r.Status, r.EndedAt, r.StoppedBy, r.StopReason = api.RunCancelled, &at, stoppedBy, reason
		return updateRun(ctx, tx, r)
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("cancel run: %w", err)
	}
	return r, nil
}

// Waiting reports a queued run's rerun state, deadline and agent load.
func (s *Store) Waiting(ctx context.Context, runID string) (store.Waiting, error) {
	var w store.Waiting
	var state, agentID string
	var expires sql.NullInt64
	err := s.pool().row(ctx, `SELECT c.state, c.expires_at, r.agent_id, a.max_runs
		FROM runs r JOIN commands c ON c.id = r.rerun_cmd_id JOIN agents a ON a.id = r.agent_id
		WHERE r.id = ?`, runID).Scan(&state, &expires, &agentID, &w.MaxRuns)
	if err != nil {
		return w, notFound(err, "run", runID)
	}
	w.CmdState, w.ExpiresAt = store.CommandState(state), goTimePtr(expires)
	if w.Busy, err = busyRuns(ctx, s.pool(), agentID); err != nil {
		return w, fmt.Errorf("waiting: %w", err)
	}
	return w, nil
}
