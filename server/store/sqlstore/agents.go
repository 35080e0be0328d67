package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
)

const agentCols = `id, user_id, hostname, label, os, arch, version, properties, created_at, last_heartbeat`

func scanAgent(r row) (store.Agent, error) {
	var a store.Agent
	var props string
	var created int64
	var beat sql.NullInt64
	err := r.Scan(&a.ID, &a.UserID, &a.Hostname, &a.Label, &a.OS, &a.Arch,
		&a.Version, &props, &created, &beat)
	if err != nil {
		return store.Agent{}, err
	}
	if err := json.Unmarshal([]byte(props), &a.Properties); err != nil {
		return store.Agent{}, fmt.Errorf("agent %q properties: %w", a.ID, err)
	}
	a.CreatedAt = goTime(created)
	a.LastHeartbeat = goTimeOrZero(beat)
	return a, nil
}

// RegisterAgent stores the agent and its token in one transaction.
func (s *Store) RegisterAgent(ctx context.Context, a store.Agent, t store.Token) error {
	props, err := json.Marshal(a.Properties)
	if err != nil {
		return fmt.Errorf("agent properties: %w", err)
	}
	err = s.inTx(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO agents
			(id, user_id, hostname, label, os, arch, version, properties, created_at, last_heartbeat)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.UserID, a.Hostname, a.Label, a.OS, a.Arch, a.Version,
			string(props), dbTime(a.CreatedAt), dbTimeOrNull(a.LastHeartbeat))
		if err != nil {
			return err
		}
		return insertToken(ctx, c, t)
	})
	if err != nil {
		return fmt.Errorf("register agent %q: %w", a.ID, err)
	}
	return nil
}

// Agent finds an agent by id.
func (s *Store) Agent(ctx context.Context, id string) (store.Agent, error) {
	a, err := scanAgent(s.pool().row(ctx, `SELECT `+agentCols+` FROM agents WHERE id = ?`, id))
	return a, notFound(err, "agent", id)
}

// ListAgents returns the user's agents, oldest registration first.
func (s *Store) ListAgents(ctx context.Context, userID string) ([]store.Agent, error) {
	rows, err := s.pool().query(ctx, `SELECT `+agentCols+` FROM agents
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return collect(rows, scanAgent)
}

// Heartbeat records that the agent was alive at at. It is one indexed
// UPDATE because every agent request pays for it.
func (s *Store) Heartbeat(ctx context.Context, agentID string, at time.Time) error {
	res, err := s.pool().exec(ctx, `UPDATE agents SET last_heartbeat = ? WHERE id = ?`,
		dbTime(at), agentID)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return affected(res, "agent", agentID)
}

// Stats counts online agents and commands by state; every state is in the
// map, zero when no command is in it.
func (s *Store) Stats(ctx context.Context, onlineSince time.Time) (store.Stats, error) {
	st := store.Stats{CommandsByState: map[store.CommandState]int{
		store.CmdQueued: 0, store.CmdDelivered: 0, store.CmdAcked: 0,
	}}
	err := s.pool().row(ctx, `SELECT COUNT(*) FROM agents WHERE last_heartbeat >= ?`,
		dbTime(onlineSince)).Scan(&st.AgentsOnline)
	if err != nil {
		return store.Stats{}, fmt.Errorf("count online agents: %w", err)
	}
	rows, err := s.pool().query(ctx, `SELECT state, COUNT(*) FROM commands GROUP BY state`)
	if err != nil {
		return store.Stats{}, fmt.Errorf("count commands: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return store.Stats{}, err
		}
		st.CommandsByState[store.CommandState(state)] = n
	}
	return st, rows.Err()
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
