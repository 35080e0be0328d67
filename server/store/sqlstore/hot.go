package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// HotQuery is a query on a path every agent or rerun takes, with the
// index its plan must use: an engine's tests EXPLAIN each one, so a
// change that turns one into a scan of the fleet fails there.
type HotQuery struct {
	Name string
	SQL  string // with the dialect's placeholders filled by Rebind
	Args []any
	// Indexes are the names the plan may show: one the migrations
	// create, or the engine's own for a PRIMARY KEY or UNIQUE column
	// (SQLite's sqlite_autoindex_<table>_N, PostgreSQL's <table>_pkey and
	// <table>_<column>_key). Besides using one of them, the plan must read
	// no table whole, in a scan of the table or of an index.
	Indexes []string
	// ForUpdate and SkipLocked: the store runs the query with
	// Dialect.ForUpdate or Dialect.SkipLocked appended, and so does Rebind.
	ForUpdate, SkipLocked bool
	// Walk, when set, says why the plan is a known walk of a whole index
	// that no index can fix: the tests log it rather than fail, and still
	// hold the plan to Indexes, so a fix has to change this entry.
	Walk string
}

// HotQueries lists the hot paths' queries whose plans the engine tests
// check: the agents' paths here, the users' in hot_user.go.
func HotQueries() []HotQuery {
	return append(agentHotQueries(), userHotQueries()...)
}

// Rebind renders q's "?" placeholders in d's style, with the locking
// clause the store adds.
func (q HotQuery) Rebind(d Dialect) string {
	s := strings.TrimSpace(d.rebind(q.SQL))
	switch {
	case q.ForUpdate:
		s += d.ForUpdate
	case q.SkipLocked:
		s += d.SkipLocked
	}
	return s
}

// Index names that differ between the engines only in how each names the
// index behind a PRIMARY KEY or UNIQUE constraint.
var (
	agentsPK   = []string{"sqlite_autoindex_agents_1", "agents_pkey"}
	commandsPK = []string{"sqlite_autoindex_commands_1", "commands_pkey"}
	runsPK     = []string{"sqlite_autoindex_runs_1", "runs_pkey"}
	batchesPK  = []string{"sqlite_autoindex_batches_1", "batches_pkey"}
	usersPK    = []string{"sqlite_autoindex_users_1", "users_pkey"}
	tokensPK   = []string{"sqlite_autoindex_tokens_1", "tokens_pkey"}
)

// agentHotQueries are the queries of the requests every agent makes:
// authentication, heartbeat, the jobs long-poll and its claim, the start
// question, acks and exit reports. Each is answered through the agent's
// or the command's or the run's own rows, whatever the fleet's size.
func agentHotQueries() []HotQuery {
	now := int64(1)
	return []HotQuery{
		{Name: "a request's token", SQL: tokenByHashSQL, Args: []any{"hash"}, Indexes: []string{"sqlite_autoindex_tokens_2", "tokens_hash_key"}},
		{Name: "a heartbeat", SQL: heartbeatSQL, Args: []any{now, now, "agt-1"}, Indexes: agentsPK},
		forwardLock(agentHeartbeats, "a flush of heartbeats: the lock", agentsPK),
		forwardUpdate(agentHeartbeats, "a flush of heartbeats", agentsPK),
		forwardLock(tokenLastUses, "a flush of tokens' last uses: the lock", tokensPK),
		forwardUpdate(tokenLastUses, "a flush of tokens' last uses", tokensPK),

		{Name: "jobs: the long-poll's look for work", SQL: lookForWorkSQL, Args: []any{now, "agt-1"}, Indexes: []string{"commands_agent_state"}},
		{Name: "jobs: the claim's look for work", SQL: anyClaimableSQL, Args: []any{"agt-1", now}, Indexes: []string{"commands_agent_state"}},
		{Name: "jobs: the long-poll's next lease end", SQL: nextLeaseSQL, Args: []any{"agt-1"}, Indexes: []string{"commands_agent_state"}},
		{Name: "jobs: the claim's lock of its agent", SQL: claimAgentSQL, Args: []any{0, "agt-1"}, Indexes: agentsPK},
		{Name: "jobs: the claim's overdue reruns", SQL: expireDueAgentSQL, Args: []any{now, "agt-1"}, Indexes: []string{"commands_agent_state"}, SkipLocked: true},
		{Name: "jobs: the claim's read", SQL: pickClaimableLimitSQL, Args: []any{"agt-1", now, now, 20}, Indexes: []string{"commands_agent_state"}, SkipLocked: true},
		{Name: "jobs: the claim's read under --max-runs", SQL: pickClaimableSQL, Args: []any{"agt-1", now, now}, Indexes: []string{"commands_agent_state"}, SkipLocked: true},
		{Name: "jobs: the claim's count of busy runs", SQL: busyRunsSQL, Args: []any{"agt-1", "agt-1"}, Indexes: []string{"runs_agent_status"}},
		{Name: "jobs: the claim's lease of a command", SQL: deliverSQL, Args: []any{now, now, "cmd-1"}, Indexes: commandsPK},

		{Name: "start: the command", SQL: cmdByIDSQL, Args: []any{"cmd-1"}, Indexes: commandsPK, ForUpdate: true},
		{Name: "start: its state", SQL: startCommandSQL, Args: []any{"cmd-1"}, Indexes: commandsPK},

		{Name: "ack: the command", SQL: cmdByIDSQL, Args: []any{"cmd-1"}, Indexes: commandsPK},
		{Name: "ack: the command, locked", SQL: cmdByIDSQL, Args: []any{"cmd-1"}, Indexes: commandsPK, ForUpdate: true},
		{Name: "ack: its record", SQL: ackCommandSQL, Args: []any{now, "{}", "cmd-1"}, Indexes: commandsPK},
		{Name: "ack and exit: the run, locked", SQL: runByIDSQL, Args: []any{"run-1"}, Indexes: runsPK, ForUpdate: true},
		{Name: "ack and exit: the run's update", SQL: updateRunSQL, Args: updateRunArgs(), Indexes: runsPK},

		{Name: "exit: the run's undelivered stops", SQL: ackQueuedStopsSQL, Args: []any{now, "{}", "run-1", api.KindStop}, Indexes: []string{"commands_run"}},
		{Name: "exit: the run's log size", SQL: setLogSizeSQL, Args: []any{int64(0), "run-1"}, Indexes: runsPK},
	}
}

// forwardLock and forwardUpdate are moveForward's statements for a chunk
// of 8 rows.
func forwardLock(f forwardColumn, name string, pk []string) HotQuery {
	lock, _ := f.sql(8, "")
	args := make([]any, 8)
	for i := range args {
		args[i] = fmt.Sprintf("id-%d", i)
	}
	return HotQuery{Name: name, SQL: lock, Args: args, Indexes: pk, ForUpdate: true}
}

func forwardUpdate(f forwardColumn, name string, pk []string) HotQuery {
	_, update := f.sql(8, "")
	var args []any
	for i := range 8 {
		args = append(args, fmt.Sprintf("id-%d", i), int64(i))
	}
	return HotQuery{Name: name, SQL: update, Args: args, Indexes: pk}
}

// updateRunArgs binds updateRunSQL as updateRun does, NULLs included.
func updateRunArgs() []any {
	r := store.Run{ID: "run-1", Status: api.RunRunning, StartedAt: new(time.Time)}
	return []any{string(r.Status), r.PID, nil, r.Signal, r.ExitUnknown, r.Error, outputBytes(r.OutputTail),
		r.StopCmdID, r.StopOutcome, dbTimePtr(r.StartedAt), dbTimePtr(r.EndedAt), r.StoppedBy, r.StopReason, r.LeftProcesses, r.ID}
}
