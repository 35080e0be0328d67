package sqlstore

import "strings"

// HotQuery is a query on a path every agent or rerun takes, with the
// index its plan must use: an engine's tests EXPLAIN each one, so a
// change that turns one into a scan of the fleet fails there.
type HotQuery struct {
	Name string
	SQL  string // with the dialect's placeholders filled by Rebind
	Args []any
	// Indexes are the names the plan may show: one the migrations
	// create, or the engine's own for a UNIQUE column (SQLite's
	// sqlite_autoindex_<table>_N, PostgreSQL's <table>_<column>_key).
	Indexes []string
}

// HotQueries lists the hot paths' queries whose plans the engine tests
// check.
func HotQueries() []HotQuery {
	return []HotQuery{
		{Name: "a rerun's agents on the batch's host", SQL: agentsOnHostSQL, Args: []any{"u-1", "gpu-01"}, Indexes: []string{"agents_user_host"}},
		{Name: "a request's token", SQL: tokenByHashSQL, Args: []any{"hash"}, Indexes: []string{"sqlite_autoindex_tokens", "tokens_hash_key"}},
		{Name: "a long-poll's look for work", SQL: anyClaimableSQL, Args: []any{"agt-1", int64(1)}, Indexes: []string{"commands_agent_state"}},
		{Name: "a long-poll's next lease end", SQL: nextLeaseSQL, Args: []any{"agt-1"}, Indexes: []string{"commands_agent_state"}},
		{Name: "a heartbeat", SQL: heartbeatSQL, Args: []any{int64(1), int64(1), "agt-1"}, Indexes: []string{"sqlite_autoindex_agents", "agents_pkey"}},
	}
}

// Rebind renders q's "?" placeholders in d's style.
func (q HotQuery) Rebind(d Dialect) string { return strings.TrimSpace(d.rebind(q.SQL)) }
