package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// agentCols reads an agent as a. Revoked is computed, never stored: tokens
// are revoked one by one (RevokeToken knows nothing of agents), so a stored
// flag could go stale. The subquery is an index lookup on tokens_agent.
const agentCols = `a.id, a.user_id, a.hostname, a.label, a.os, a.arch, a.version,
	a.properties, a.created_at, a.last_heartbeat, a.offline_at,
	NOT EXISTS (SELECT 1 FROM tokens t WHERE t.agent_id = a.id AND t.revoked_at IS NULL)`

func scanAgent(r row) (store.Agent, error) {
	var a store.Agent
	var props string
	var created int64
	var beat, offline sql.NullInt64
	err := r.Scan(&a.ID, &a.UserID, &a.Hostname, &a.Label, &a.OS, &a.Arch,
		&a.Version, &props, &created, &beat, &offline, &a.Revoked)
	if err != nil {
		return store.Agent{}, err
	}
	if err := json.Unmarshal([]byte(props), &a.Properties); err != nil {
		return store.Agent{}, fmt.Errorf("agent %q properties: %w", a.ID, err)
	}
	a.CreatedAt = goTime(created)
	a.LastHeartbeat = goTimeOrZero(beat)
	a.OfflineAt = goTimeOrZero(offline)
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

// RotateAgentToken updates a's host fields, revokes the agent's live tokens
// at at and stores t, in one transaction: a failure leaves the old token
// working. The owner, creation time and heartbeat are the agent's own and
// are not taken from a. Blank t.AgentID and t.Kind are filled in.
func (s *Store) RotateAgentToken(ctx context.Context, a store.Agent, t store.Token, at time.Time) error {
	if t.AgentID == "" {
		t.AgentID = a.ID
	}
	if t.Kind == "" {
		t.Kind = token.Agent
	}
	if t.AgentID != a.ID || t.Kind != token.Agent {
		return fmt.Errorf("rotate agent %q: token %q is a %q token of agent %q",
			a.ID, t.ID, t.Kind, t.AgentID)
	}
	props, err := json.Marshal(a.Properties)
	if err != nil {
		return fmt.Errorf("agent properties: %w", err)
	}
	err = s.inTx(ctx, func(c conn) error {
		res, err := c.exec(ctx, `UPDATE agents SET hostname = ?, label = ?, os = ?, arch = ?,
			version = ?, properties = ? WHERE id = ?`,
			a.Hostname, a.Label, a.OS, a.Arch, a.Version, string(props), a.ID)
		if err != nil {
			return err
		}
		if err := affected(res, "agent", a.ID); err != nil {
			return err
		}
		// Tokens revoked before keep their first revocation time, as with
		// RevokeToken. The new token is inserted after, so it stays live.
		_, err = c.exec(ctx, `UPDATE tokens SET revoked_at = ?
			WHERE agent_id = ? AND revoked_at IS NULL`, dbTime(at), a.ID)
		if err != nil {
			return err
		}
		return insertToken(ctx, c, t)
	})
	if err != nil {
		return fmt.Errorf("rotate agent token %q: %w", a.ID, err)
	}
	return nil
}

// Agent finds an agent by id.
func (s *Store) Agent(ctx context.Context, id string) (store.Agent, error) {
	a, err := scanAgent(s.pool().row(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.id = ?`, id))
	return a, notFound(err, "agent", id)
}

// ListAgents returns one page of the user's agents, newest registration
// first.
func (s *Store) ListAgents(ctx context.Context, userID string, p store.Page) ([]store.Agent, bool, error) {
	query, args, err := listAgentsSQL(userID, p)
	return listPage(ctx, s, "list agents", query, args, err, scanAgent, p)
}

// listAgentsSQL is ListAgents' query and arguments.
func listAgentsSQL(userID string, p store.Page) (string, []any, error) {
	q := pageQuery{table: "a"}
	q.and("a.user_id = ?", userID)
	return q.sql(`SELECT `+agentCols+` FROM agents a`, p)
}

const agentsOnHostSQL = `SELECT ` + agentCols + ` FROM agents a
	WHERE a.user_id = ? AND LOWER(a.hostname) = LOWER(?) ORDER BY a.created_at, a.id`

// AgentsOnHost implements store.Store through the agents_user_host index
// (schemaV11).
func (s *Store) AgentsOnHost(ctx context.Context, userID, hostname string) ([]store.Agent, error) {
	rows, err := s.pool().query(ctx, agentsOnHostSQL, userID, hostname)
	if err != nil {
		return nil, fmt.Errorf("agents on host: %w", err)
	}
	as, err := collect(rows, scanAgent)
	if err != nil {
		return nil, fmt.Errorf("agents on host: %w", err)
	}
	return as, nil
}

// heartbeatSQL moves an agent's heartbeat forward only: replicas coalesce
// heartbeats and flush them at their own pace, so an older time can arrive
// after a newer one. CASE rather than MAX/GREATEST, which engines spell
// differently.
const heartbeatSQL = `UPDATE agents SET last_heartbeat =
	CASE WHEN last_heartbeat IS NULL OR last_heartbeat < ? THEN ? ELSE last_heartbeat END
	WHERE id = ?`

// Heartbeat records that the agent was alive at at, unless a later
// heartbeat is stored already. It is one indexed UPDATE because every
// agent request pays for it.
func (s *Store) Heartbeat(ctx context.Context, agentID string, at time.Time) error {
	us := dbTime(at)
	res, err := s.pool().exec(ctx, heartbeatSQL, us, us, agentID)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	// The row matches even when its time is kept, so 0 means no agent.
	return affected(res, "agent", agentID)
}

// Heartbeats applies Heartbeat's rule to many agents in one transaction
// (moveForward: a few round trips for thousands of agents).
func (s *Store) Heartbeats(ctx context.Context, beats map[string]time.Time) error {
	if len(beats) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(c conn) error { return s.moveForward(ctx, c, agentHeartbeats, beats) })
	if err != nil {
		return fmt.Errorf("heartbeats: %w", err)
	}
	return nil
}

// AgentOffline records the agent's goodbye. Like heartbeats it only moves
// forward. The heartbeat is left alone: the online rule compares the two,
// so a heartbeat written behind after the goodbye but sent before it
// cannot bring the agent back.
func (s *Store) AgentOffline(ctx context.Context, agentID string, at time.Time) error {
	us := dbTime(at)
	res, err := s.pool().exec(ctx, `UPDATE agents SET offline_at =
		CASE WHEN offline_at IS NULL OR offline_at < ? THEN ? ELSE offline_at END
		WHERE id = ?`, us, us, agentID)
	if err != nil {
		return fmt.Errorf("agent offline: %w", err)
	}
	return affected(res, "agent", agentID)
}

// Stats counts online agents and commands by state; every state is in the
// map, zero when no command is in it.
func (s *Store) Stats(ctx context.Context, onlineSince time.Time) (store.Stats, error) {
	st := store.Stats{CommandsByState: map[store.CommandState]int{
		store.CmdQueued: 0, store.CmdDelivered: 0, store.CmdAcked: 0,
	}}
	err := s.pool().row(ctx, `SELECT COUNT(*) FROM agents
		WHERE last_heartbeat >= ? AND (offline_at IS NULL OR last_heartbeat > offline_at)`,
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
