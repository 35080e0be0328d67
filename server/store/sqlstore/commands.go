package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

const cmdCols = `c.id, c.agent_id, COALESCE(c.run_id, ''), c.kind, c.payload, c.state,
	c.attempts, c.created_at, c.delivered_at, c.lease_until, c.acked_at, c.ack`

// claimable selects an agent's (first ?) commands that are queued or whose
// lease ended before the second ? (delivered, or starting: the agent said
// it was starting the rerun but has not acked it). The explicit state IN (...) lets the
// planner range-scan commands_agent_state instead of reading every command
// the agent ever had: without it, each poll slowed as history grew.
const claimable = `c.agent_id = ? AND c.state IN ('queued', 'delivered', 'starting')
	AND (c.state = 'queued' OR c.lease_until < ?)`

// anyClaimableSQL is the long-poll's cheap look: is anything claimable?
const anyClaimableSQL = `SELECT 1 FROM commands c WHERE ` + claimable + ` LIMIT 1`

// lookForWorkSQL is LookForWork's one read: 0 when a command is claimable
// at the second ?, else the earliest lease end of a delivered or starting
// one, NULL when the agent has none outstanding.
const lookForWorkSQL = `SELECT MIN(CASE WHEN c.state = 'queued' OR c.lease_until < ? THEN 0 ELSE c.lease_until END)
	FROM commands c WHERE c.agent_id = ? AND c.state IN ('queued', 'delivered', 'starting')`

// cmdByIDSQL reads one command; AckCommand and StartCommand lock it
// (Dialect.ForUpdate) before they change it.
const cmdByIDSQL = `SELECT ` + cmdCols + ` FROM commands c WHERE c.id = ?`

// nextLeaseSQL is the earliest lease end of an agent's unacked commands.
const nextLeaseSQL = `SELECT MIN(lease_until) FROM commands
	WHERE agent_id = ? AND state IN ('delivered', 'starting')`

func scanCommand(r row) (store.Command, error) {
	var c store.Command
	var payload, state string
	var ack sql.NullString
	var created int64
	var delivered, lease, acked sql.NullInt64
	err := r.Scan(&c.ID, &c.AgentID, &c.RunID, &c.Kind, &payload, &state, &c.Attempts,
		&created, &delivered, &lease, &acked, &ack)
	if err != nil {
		return store.Command{}, err
	}
	if err := json.Unmarshal([]byte(payload), &c.Payload); err != nil {
		return store.Command{}, fmt.Errorf("command %q payload: %w", c.ID, err)
	}
	if ack.Valid {
		c.Ack = new(api.AckRequest)
		if err := json.Unmarshal([]byte(ack.String), c.Ack); err != nil {
			return store.Command{}, fmt.Errorf("command %q ack: %w", c.ID, err)
		}
	}
	// The agent uses Attempt to tell a redelivery from a first delivery.
	c.Payload.Attempt = c.Attempts
	c.State = store.CommandState(state)
	c.CreatedAt = goTime(created)
	c.DeliveredAt, c.LeaseUntil, c.AckedAt = goTimePtr(delivered), goTimePtr(lease), goTimePtr(acked)
	return c, nil
}

// insertCommand stores c as a fresh queued command. Blank payload fields
// are filled from c, so the payload always names its command and run.
func insertCommand(ctx context.Context, tx conn, c store.Command) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	p := c.Payload
	if p.ID == "" {
		p.ID = c.ID
	}
	if p.Kind == "" {
		p.Kind = c.Kind
	}
	if p.RunID == "" {
		p.RunID = c.RunID
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = c.CreatedAt
	}
	p.CreatedAt = p.CreatedAt.UTC()
	payload, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("command payload: %w", err)
	}
	_, err = tx.exec(ctx, `INSERT INTO commands
		(id, agent_id, run_id, kind, payload, state, attempts, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?)`,
		c.ID, c.AgentID, nullIfEmpty(c.RunID), c.Kind, string(payload), dbTime(c.CreatedAt), dbTimePtr(p.ExpiresAt))
	return err
}

// Command finds a command by id.
func (s *Store) Command(ctx context.Context, id string) (store.Command, error) {
	c, err := scanCommand(s.pool().row(ctx, cmdByIDSQL, id))
	return c, notFound(err, "command", id)
}

// ClaimCommands leases up to limit (all when limit <= 0) of the agent's
// claimable commands, oldest first. The select and the updates share one
// transaction that excludes other claimers (BEGIN IMMEDIATE in SQLite, row
// locks with SKIP LOCKED in PostgreSQL), so a command is never handed out
// twice within one lease.
func (s *Store) ClaimCommands(ctx context.Context, agentID string, now time.Time, lease time.Duration, limit int) ([]store.Command, error) {
	return s.ClaimCommandsCapped(ctx, agentID, 0, now, lease, limit)
}

// ClaimCommandsCapped is ClaimCommands for an agent that runs at most
// maxRuns runs at once (0: any number); see claim.
func (s *Store) ClaimCommandsCapped(ctx context.Context, agentID string, maxRuns int, now time.Time, lease time.Duration, limit int) ([]store.Command, error) {
	// Long-polls call this often for agents with nothing to do; a plain
	// read answers them without taking the write lock.
	var one int
	err := s.pool().row(ctx, anyClaimableSQL, agentID, dbTime(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim commands: %w", err)
	}
	var out []store.Command
	err = s.inTx(ctx, func(tx conn) error {
		var err error
		out, err = claim(ctx, tx, agentID, maxRuns, now, lease, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim commands: %w", err)
	}
	return out, nil
}

// claimAgentSQL records the agent's run limit, and locks its row.
const claimAgentSQL = `UPDATE agents SET max_runs = ? WHERE id = ?`

// deliverSQL leases one claimed command.
const deliverSQL = `UPDATE commands SET delivered_at = ?, lease_until = ?,
			attempts = attempts + 1, state = CASE WHEN state = 'starting' THEN 'starting' ELSE 'delivered' END
			WHERE id = ?`

// claim leases the agent's claimable commands. It first writes the
// agent's run limit to its row, which also locks the row (PostgreSQL's
// UPDATE takes a row lock; SQLite's write transaction excludes every other
// writer): claims of one agent then take turns across replicas, so each
// counts the runs the previous one handed out. Reruns past their deadline
// are expired rather than handed out; with a limit, fresh reruns beyond it
// stay queued while stops and redeliveries (already counted) still go.
func claim(ctx context.Context, tx conn, agentID string, maxRuns int, now time.Time, lease time.Duration, limit int) ([]store.Command, error) {
	if _, err := tx.exec(ctx, claimAgentSQL, maxRuns, agentID); err != nil {
		return nil, err
	}
	if _, err := expireDue(ctx, tx, agentID, now); err != nil {
		return nil, err
	}
	cmds, err := pickClaimable(ctx, tx, agentID, now, maxRuns, limit)
	if err != nil {
		return nil, err
	}
	at, until := goTime(dbTime(now)), goTime(dbTime(now.Add(lease)))
	for i := range cmds {
		c := &cmds[i]
		// A starting rerun stays starting: its agent may have started it,
		// so it must not become cancellable again.
		_, err := tx.exec(ctx, deliverSQL, dbTime(at), dbTime(until), c.ID)
		if err != nil {
			return nil, err
		}
		if c.State != store.CmdStarting {
			c.State = store.CmdDelivered
		}
		c.Attempts++
		c.Payload.Attempt = c.Attempts
		c.DeliveredAt, c.LeaseUntil = &at, &until
	}
	return cmds, nil
}

// LookForWork answers a long-poll's look in one indexed read.
func (s *Store) LookForWork(ctx context.Context, agentID string, now time.Time) (store.Outstanding, error) {
	var first sql.NullInt64
	if err := s.pool().row(ctx, lookForWorkSQL, dbTime(now), agentID).Scan(&first); err != nil {
		return store.Outstanding{}, fmt.Errorf("look for work: %w", err)
	}
	switch {
	case !first.Valid:
		return store.Outstanding{}, nil
	case first.Int64 == 0:
		return store.Outstanding{Claimable: true}, nil
	}
	return store.Outstanding{HasLease: true, LeaseEnd: goTime(first.Int64)}, nil
}

// ReleaseDelivered moves the leases of the agent's unacked deliveries it
// does not hold to just before now: claimable by the next claim.
func (s *Store) ReleaseDelivered(ctx context.Context, agentID string, holding []string, now time.Time) (int, error) {
	q := `UPDATE commands SET lease_until = ? WHERE agent_id = ? AND state IN ('delivered', 'starting') AND lease_until >= ?`
	args := []any{dbTime(now) - 1, agentID, dbTime(now)}
	if len(holding) > 0 {
		q += ` AND id NOT IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(holding)), ", ") + `)`
		for _, id := range holding {
			args = append(args, id)
		}
	}
	res, err := s.pool().exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("release deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// NextLeaseExpiry is the earliest lease end among the agent's delivered,
// unacked commands.
func (s *Store) NextLeaseExpiry(ctx context.Context, agentID string) (time.Time, bool, error) {
	var earliest sql.NullInt64
	err := s.pool().row(ctx, nextLeaseSQL, agentID).Scan(&earliest)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next lease expiry: %w", err)
	}
	if !earliest.Valid {
		return time.Time{}, false, nil
	}
	return goTime(earliest.Int64), true, nil
}

// AckCommand records the agent's ack of one of its commands and applies it
// to the command's run. A command acked before is returned unchanged with
// duplicate set, and nothing is written. A command still queued was never
// handed to any agent, so an ack of it cannot be genuine: ErrConflict, and
// nothing is written. The state is checked inside the transaction, so a
// claim cannot slip in between.
func (s *Store) AckCommand(ctx context.Context, agentID, cmdID string, ack api.AckRequest, at time.Time) (store.Command, bool, error) {
	if ack.StartedAt != nil {
		started := goTime(dbTime(*ack.StartedAt))
		ack.StartedAt = &started
	}
	var c store.Command
	var dup bool
	err := s.inTx(ctx, func(tx conn) error {
		var err error
		c, err = scanCommand(tx.row(ctx, cmdByIDSQL+tx.s.d.ForUpdate, cmdID))
		if err != nil || c.AgentID != agentID {
			return notFound(orNoRows(err), "command", cmdID)
		}
		switch c.State {
		case store.CmdAcked:
			dup = true
			return nil
		case store.CmdQueued:
			return fmt.Errorf("command %q was never delivered: %w", cmdID, store.ErrConflict)
		case store.CmdCancelled, store.CmdExpired:
			return fmt.Errorf("command %q is %s: %w", cmdID, c.State, store.ErrConflict)
		}
		return ackCommand(ctx, tx, &c, ack, goTime(dbTime(at)))
	})
	if err != nil {
		return store.Command{}, false, fmt.Errorf("ack: %w", err)
	}
	return c, dup, nil
}

// orNoRows reports a command of another agent exactly like a missing one.
func orNoRows(err error) error {
	if err == nil {
		return sql.ErrNoRows
	}
	return err
}

const ackCommandSQL = `UPDATE commands SET state = 'acked', acked_at = ?, ack = ? WHERE id = ?`

func ackCommand(ctx context.Context, tx conn, c *store.Command, ack api.AckRequest, at time.Time) error {
	body, err := json.Marshal(ack)
	if err != nil {
		return fmt.Errorf("ack body: %w", err)
	}
	_, err = tx.exec(ctx, ackCommandSQL, dbTime(at), string(body), c.ID)
	if err != nil {
		return err
	}
	c.State, c.AckedAt, c.Ack = store.CmdAcked, &at, &ack
	if c.RunID == "" {
		return nil
	}
	r, err := runForUpdate(ctx, tx, c.RunID)
	if err != nil {
		return err
	}
	applyAck(&r, c.Kind, ack, at)
	return updateRun(ctx, tx, r)
}

// applyAck moves a run on after its command was acked. An exit report may
// have arrived before the ack; the run then keeps its final status and
// only learns its PID and start time.
func applyAck(r *store.Run, kind string, ack api.AckRequest, at time.Time) {
	switch kind {
	case api.KindRerun:
		if ack.Error != "" {
			if !r.Status.Ended() {
				r.Status, r.Error, r.EndedAt = api.RunFailed, ack.Error, &at
				if ack.Outcome == api.OutcomeExpired {
					r.Status = api.RunExpired
				}
			}
			return
		}
		started := at
		if ack.StartedAt != nil {
			started = *ack.StartedAt
		}
		r.PID, r.StartedAt = ack.PID, &started
		if r.Status == api.RunQueued {
			r.Status = api.RunRunning
		}
	case api.KindStop:
		if ack.Error != "" {
			// The agent could not stop the run and it is still alive:
			// running again, so the user can retry. A run that ended
			// meanwhile keeps its final status; the stop's failure no
			// longer matters.
			if r.Status == api.RunStopping {
				r.Status, r.StopOutcome = api.RunRunning, api.StopFailed
				r.Error = "stop failed: " + ack.Error
			}
			return
		}
		r.StopOutcome = ack.Outcome
	}
}

// goneAck is what a stop command gets acked with when its run ends before
// any agent was handed it.
var goneAck = api.AckRequest{Outcome: api.StopAlreadyGone, Error: "run ended before the stop was delivered"}

// ackQueuedStopsSQL finds the run's commands through commands_run, not
// the agent's: a run has a handful of commands, its agent its whole history.
const ackQueuedStopsSQL = `UPDATE commands SET state = 'acked', acked_at = ?, ack = ?
		WHERE run_id = ? AND kind = ? AND state = 'queued'`

// ackQueuedStops acks, at at, the run's stop commands that are still
// queued, so that no agent is later sent a stop for a PID that may by then
// belong to another process. Delivered stops are left for the agent to
// ack. It reports whether any command was acked.
func ackQueuedStops(ctx context.Context, tx conn, runID string, at time.Time) (bool, error) {
	body, err := json.Marshal(goneAck)
	if err != nil {
		return false, fmt.Errorf("ack body: %w", err)
	}
	res, err := tx.exec(ctx, ackQueuedStopsSQL, dbTime(at), string(body), runID, api.KindStop)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
