package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Migration is one schema step. Versions only ever grow; a shipped
// migration is never edited, a new one is appended instead.
type Migration struct {
	Version int
	// Stmts run in order inside one transaction. They are separate
	// strings because not every driver runs several statements per Exec.
	Stmts []string
}

// Migrations is the schema, oldest first.
func Migrations() []Migration {
	return []Migration{
		{Version: 1, Stmts: schemaV1},
		{Version: 2, Stmts: schemaV2},
		{Version: 3, Stmts: schemaV3},
		{Version: 4, Stmts: schemaV4},
		{Version: 5, Stmts: schemaV5},
		{Version: 6, Stmts: schemaV6},
		{Version: 7, Stmts: schemaV7},
		{Version: 8, Stmts: schemaV8},
		{Version: 9, Stmts: schemaV9},
		{Version: 10, Stmts: schemaV10},
		{Version: 11, Stmts: schemaV11},
		{Version: 12, Stmts: schemaV12},
		{Version: 13, Stmts: schemaV13},
		{Version: 14, Stmts: schemaV14},
		{Version: 15, Stmts: schemaV15},
		{Version: 16, Stmts: schemaV16},
		{Version: 17, Stmts: schemaV17},
		{Version: 18, Stmts: schemaV18},
		{Version: 19, Stmts: schemaV19},
		{Version: 20, Stmts: schemaV20},
	}
}

// schemaV1 is the first schema. Times are {{int64}} Unix microseconds;
// maps and structured values are JSON text. Columns that reference another
// table are NULL rather than "" when empty, so foreign keys hold.
var schemaV1 = []string{
	`CREATE TABLE users (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		created_at {{int64}} NOT NULL
	)`,
	`CREATE TABLE agents (
		id             TEXT PRIMARY KEY,
		user_id        TEXT NOT NULL REFERENCES users(id),
		hostname       TEXT NOT NULL,
		label          TEXT NOT NULL DEFAULT '',
		os             TEXT NOT NULL DEFAULT '',
		arch           TEXT NOT NULL DEFAULT '',
		version        TEXT NOT NULL DEFAULT '',
		properties     {{json}} NOT NULL DEFAULT '{}',
		created_at     {{int64}} NOT NULL,
		last_heartbeat {{int64}}
	)`,
	`CREATE INDEX agents_user ON agents(user_id)`,
	`CREATE TABLE tokens (
		id         TEXT PRIMARY KEY,
		hash       TEXT NOT NULL UNIQUE,
		kind       TEXT NOT NULL,
		user_id    TEXT NOT NULL REFERENCES users(id),
		agent_id   TEXT REFERENCES agents(id),
		created_at {{int64}} NOT NULL,
		revoked_at {{int64}}
	)`,
	`CREATE TABLE projects (
		name       TEXT PRIMARY KEY,
		owner_id   TEXT NOT NULL REFERENCES users(id),
		created_at {{int64}} NOT NULL
	)`,
	`CREATE INDEX projects_owner ON projects(owner_id)`,
	`CREATE TABLE project_recipients (
		project    TEXT NOT NULL REFERENCES projects(name),
		user_id    TEXT NOT NULL REFERENCES users(id),
		created_at {{int64}} NOT NULL,
		PRIMARY KEY (project, user_id)
	)`,
	`CREATE INDEX project_recipients_user ON project_recipients(user_id)`,
	`CREATE TABLE batches (
		id         TEXT PRIMARY KEY,
		owner_id   TEXT NOT NULL REFERENCES users(id),
		project    TEXT NOT NULL REFERENCES projects(name),
		name       TEXT NOT NULL,
		snapshot   {{json}} NOT NULL,
		created_at {{int64}} NOT NULL
	)`,
	`CREATE INDEX batches_project ON batches(project)`,
	`CREATE INDEX batches_owner ON batches(owner_id)`,
	`CREATE INDEX batches_created ON batches(created_at, id)`,
	`CREATE TABLE runs (
		id           TEXT PRIMARY KEY,
		batch_id     TEXT NOT NULL REFERENCES batches(id),
		agent_id     TEXT NOT NULL REFERENCES agents(id),
		status       TEXT NOT NULL,
		pid          {{int64}} NOT NULL DEFAULT 0,
		exit_code    {{int64}},
		signal       TEXT NOT NULL DEFAULT '',
		exit_unknown {{bool}} NOT NULL DEFAULT FALSE,
		error        TEXT NOT NULL DEFAULT '',
		output_tail  TEXT NOT NULL DEFAULT '',
		rerun_cmd_id TEXT NOT NULL DEFAULT '',
		stop_cmd_id  TEXT NOT NULL DEFAULT '',
		stop_outcome TEXT NOT NULL DEFAULT '',
		created_at   {{int64}} NOT NULL,
		started_at   {{int64}},
		ended_at     {{int64}}
	)`,
	`CREATE INDEX runs_batch ON runs(batch_id, created_at)`,
	`CREATE INDEX runs_agent ON runs(agent_id)`,
	`CREATE INDEX runs_created ON runs(created_at, id)`,
	`CREATE TABLE commands (
		id           TEXT PRIMARY KEY,
		agent_id     TEXT NOT NULL REFERENCES agents(id),
		run_id       TEXT REFERENCES runs(id),
		kind         TEXT NOT NULL,
		payload      {{json}} NOT NULL,
		state        TEXT NOT NULL,
		attempts     {{int64}} NOT NULL DEFAULT 0,
		created_at   {{int64}} NOT NULL,
		delivered_at {{int64}},
		lease_until  {{int64}},
		acked_at     {{int64}},
		ack          {{json}}
	)`,
	// Claims and lease lookups filter on agent and state, then order by age.
	`CREATE INDEX commands_agent_state ON commands(agent_id, state, created_at)`,
	`CREATE INDEX commands_state ON commands(state)`,
	`CREATE INDEX commands_run ON commands(run_id)`,
}

// schemaV2 indexes tokens by agent. Every read of an agent asks whether it
// has a live token (Agent.Revoked), and RotateAgentToken revokes an agent's
// live tokens; revoked_at in the index answers both without the table.
var schemaV2 = []string{
	`CREATE INDEX tokens_agent ON tokens(agent_id, revoked_at)`,
}

// Migrate brings db up to the last of ms, applying each missing migration
// in its own transaction, and returns the versions it applied. A version
// already recorded in schema_migrations is skipped, so reopening a database
// applies only what is new.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, ms []Migration) ([]int, error) {
	create := d.ddl(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    {{int64}} PRIMARY KEY,
		applied_at {{int64}} NOT NULL
	)`)
	if err := createMigrationsTable(ctx, db, d, create); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	// A schema newer than this binary (a rolling upgrade gone backwards,
	// an old replica left running) is refused rather than misread.
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	if known := ms[len(ms)-1].Version; newest.Valid && int(newest.Int64) > known {
		return nil, fmt.Errorf("the database schema is at version %d, newer than this argus-server knows (%d): upgrade argus-server", newest.Int64, known)
	}
	var applied []int
	for _, m := range ms {
		did, err := applyMigration(ctx, db, d, m)
		if err != nil {
			return applied, fmt.Errorf("migration %d: %w", m.Version, err)
		}
		if did {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// createMigrationsTable runs create under the migration lock: PostgreSQL's
// CREATE TABLE IF NOT EXISTS is not safe against itself, and two replicas
// starting together would otherwise race on the catalog (a duplicate key
// error on pg_type) before either reached the lock in applyMigration.
func createMigrationsTable(ctx context.Context, db *sql.DB, d Dialect, create string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return err
	}
	return tx.Commit()
}

// applyMigration checks for the version inside the transaction, not before
// it, so two processes migrating at once cannot both apply it.
func applyMigration(ctx context.Context, db *sql.DB, d Dialect, m Migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return false, fmt.Errorf("lock: %w", err)
		}
	}
	var n int
	q := d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`)
	if err := tx.QueryRowContext(ctx, q, m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	for i, s := range m.Stmts {
		if _, err := tx.ExecContext(ctx, d.ddl(s)); err != nil {
			return false, fmt.Errorf("statement %d: %w", i+1, err)
		}
	}
	ins := d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`)
	if _, err := tx.ExecContext(ctx, ins, m.Version, time.Now().UnixMicro()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// schemaV3 lets a user end every browser session signed before a time
// (web UI sign-out): sessions live in signed cookies, not in a table.
var schemaV3 = []string{
	`ALTER TABLE users ADD COLUMN sessions_before {{int64}}`,
}

// schemaV4 records when each token was last used (argus-server token
// list), and indexes tokens by user for that list.
var schemaV4 = []string{
	`ALTER TABLE tokens ADD COLUMN last_used_at {{int64}}`,
	`CREATE INDEX tokens_user ON tokens(user_id, created_at)`,
}

// schemaV5 indexes every paged list (page.go) by its filter columns and
// then its order, (created_at, id), so a page is a range read of one index
// in order. The user's agents; runs by batch, agent and status, and all
// runs through runs_created (V1); batches by owner and by project, which
// the planner may combine for a user who sees few batches, and all of them
// through batches_created (V1). The indexes they extend are dropped: each
// is a prefix of its successor, which answers the same lookups.
var schemaV5 = []string{
	`CREATE INDEX agents_user_created ON agents(user_id, created_at, id)`,
	`DROP INDEX agents_user`,
	`CREATE INDEX runs_batch_created ON runs(batch_id, created_at, id)`,
	`DROP INDEX runs_batch`,
	`CREATE INDEX runs_agent_created ON runs(agent_id, created_at, id)`,
	`DROP INDEX runs_agent`,
	`CREATE INDEX runs_status_created ON runs(status, created_at, id)`,
	`CREATE INDEX batches_owner_created ON batches(owner_id, created_at, id)`,
	`DROP INDEX batches_owner`,
	`CREATE INDEX batches_project_created ON batches(project, created_at, id)`,
	`DROP INDEX batches_project`,
}

// schemaV6 records who is behind each run: the user who asked for the
// rerun, and who asked for its stop and why (a user's text, or a word for
// a system stop such as "timeout"). Names, not user ids: they are what
// the API shows, users are never renamed, and an account of who did what
// should read the same whatever happens to the users table later. Runs
// from before have none (empty strings).
var schemaV6 = []string{
	`ALTER TABLE runs ADD COLUMN requested_by TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE runs ADD COLUMN stopped_by TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE runs ADD COLUMN stop_reason TEXT NOT NULL DEFAULT ''`,
}

// schemaV7 bounds a rerun's life in the queue and an agent's load: a rerun
// command's deadline (expires_at, NULL: none), which claims and the expiry
// sweep compare in SQL, and the agent's --max-runs as it last claimed,
// which the UI shows beside a waiting run.
var schemaV7 = []string{
	`ALTER TABLE commands ADD COLUMN expires_at {{int64}}`,
	`ALTER TABLE agents ADD COLUMN max_runs {{int64}} NOT NULL DEFAULT 0`,
}

// schemaV8 is the agent's lifecycle: when it last said goodbye (a clean
// shutdown shows offline at once, until a later heartbeat), a run's
// timeout. Why the agent stopped a run itself ("timeout") goes in
// runs.stop_reason (schemaV6).
var schemaV8 = []string{
	`ALTER TABLE agents ADD COLUMN offline_at {{int64}}`,
	`ALTER TABLE runs ADD COLUMN timeout_ms {{int64}} NOT NULL DEFAULT 0`,
}

// schemaV9 stores a run's output as bytes (runs.output, {{blob}}): a run
// may print anything, NUL and invalid UTF-8 included, and PostgreSQL's TEXT
// refuses both, so an exit report carrying them failed on every retry and
// left its run running. Existing tails move over as their UTF-8 bytes. The
// old column stays, emptied, rather than dropped: an older replica still
// serving during an upgrade then reads empty tails instead of failing on a
// missing column; nothing writes it any more. NULL output is no output.
var schemaV9 = []string{
	`ALTER TABLE runs ADD COLUMN output {{blob}}`,
	`UPDATE runs SET output = {{utf8_bytes output_tail}}, output_tail = '' WHERE output_tail <> ''`,
}

// schemaV10 is live output (runlog.go): a run's log as pieces of bytes at
// their offsets, appended while the run runs, and on the run how much has
// been received (the next offset), how much is stored (what the --log-max
// cap counts; less than received once pieces were dropped) and, from the
// exit report, how much the agent will send in all (NULL: not known, an
// agent that does not stream, or the run has not ended).
var schemaV10 = []string{
	`CREATE TABLE run_log (
		run_id TEXT NOT NULL REFERENCES runs(id),
		off    {{int64}} NOT NULL,
		data   {{blob}} NOT NULL,
		PRIMARY KEY (run_id, off)
	)`,
	`ALTER TABLE runs ADD COLUMN log_received {{int64}} NOT NULL DEFAULT 0`,
	`ALTER TABLE runs ADD COLUMN log_stored {{int64}} NOT NULL DEFAULT 0`,
	`ALTER TABLE runs ADD COLUMN log_size {{int64}}`,
}

// schemaV11 indexes an owner's agents by host, as a rerun looks for them
// (store.AgentsOnHost): host names compare without regard to case, so the
// index is on LOWER(hostname), which both engines index as an expression,
// then on the answer's order, so no plan prefers agents_user_created
// (which would read all the owner's agents) to skip a sort.
var schemaV11 = []string{
	`CREATE INDEX agents_user_host ON agents(user_id, LOWER(hostname), created_at, id)`,
}

// schemaV12 indexes runs by agent and status. Every claim of an agent with
// --max-runs counts its running and stopping runs (busyRuns), and the only
// indexes that served it read either all the agent's runs ever
// (runs_agent_created) or every running run of the fleet
// (runs_status_created). (created_at, id) follow, as in schemaV5, so the
// runs list filtered by agent and status is a range read too.
var schemaV12 = []string{
	`CREATE INDEX runs_agent_status ON runs(agent_id, status, created_at, id)`,
}

// schemaV13 is the row /healthz writes to learn whether the database can
// be written (Store.ProbeWrite): one row, rewritten in place.
var schemaV13 = []string{
	`CREATE TABLE write_probe (id INTEGER PRIMARY KEY, at {{int64}} NOT NULL)`,
	`INSERT INTO write_probe (id, at) VALUES (1, 0)`,
}

// schemaV14 keeps the answers of requests made with an Idempotency-Key
// (store.Idempotency), for a day: a repeat gets the same answer.
var schemaV14 = []string{
	`CREATE TABLE idempotency (
		user_id    TEXT NOT NULL REFERENCES users(id),
		key        TEXT NOT NULL,
		request    TEXT NOT NULL,
		status     INTEGER NOT NULL,
		response   {{blob}} NOT NULL,
		created_at {{int64}} NOT NULL,
		PRIMARY KEY (user_id, key)
	)`,
	`CREATE INDEX idempotency_created ON idempotency(created_at)`,
}

// schemaV15 records how many processes a run left behind when its main
// process ended (and its agent then ended).
var schemaV15 = []string{
	`ALTER TABLE runs ADD COLUMN left_processes INTEGER NOT NULL DEFAULT 0`,
}

// schemaV16 keeps each agent's latest resources report (resources.go), in
// a table of its own: written behind in batches like heartbeats, without
// touching the agents' rows that claims and heartbeats lock.
var schemaV16 = []string{
	`CREATE TABLE agent_resources (
		agent_id    TEXT PRIMARY KEY,
		report      TEXT NOT NULL,
		reported_at {{int64}} NOT NULL
	)`,
}

// schemaV17 gives batches their origin host as a column, copied from the
// snapshot, so the UI can filter batches and runs by host and list the
// hosts of a user's batches that have no agent, through an index rather
// than by reading every snapshot.
var schemaV17 = []string{
	`ALTER TABLE batches ADD COLUMN host TEXT NOT NULL DEFAULT ''`,
	`UPDATE batches SET host = COALESCE({{json_field snapshot host}}, '')`,
	// Host names compare without regard to case, as reruns match them
	// (schemaV11).
	`CREATE INDEX batches_owner_host ON batches(owner_id, LOWER(host))`,
	`CREATE INDEX batches_host ON batches(LOWER(host), created_at)`,
}

// schemaV18 indexes runs by end, for retention (store.PruneRuns): the
// sweep walks the oldest ended runs instead of the whole table.
var schemaV18 = []string{
	`CREATE INDEX runs_ended ON runs(ended_at, id)`,
}

// schemaV19 is webhooks (store.Webhook): the hooks, the run ends (run_events:
// one row per ended run, written in the transaction that ended it, so no
// end is lost to a crash, and marked done once turned into deliveries),
// and the deliveries with their fixed bodies and retry state.
var schemaV19 = []string{
	`CREATE TABLE webhooks (
		id         TEXT PRIMARY KEY,
		project    TEXT NOT NULL REFERENCES projects(name),
		url        TEXT NOT NULL,
		secret     TEXT NOT NULL,
		created_by TEXT NOT NULL,
		created_at {{int64}} NOT NULL
	)`,
	`CREATE INDEX webhooks_project ON webhooks(project, created_at)`,
	// A row stays once expanded (done): a later update of an ended run
	// (a stop's outcome after the exit) must not notify twice.
	`CREATE TABLE run_events (
		run_id     TEXT PRIMARY KEY REFERENCES runs(id),
		created_at {{int64}} NOT NULL,
		done       {{bool}} NOT NULL DEFAULT FALSE
	)`,
	`CREATE INDEX run_events_pending ON run_events(done, created_at)`,
	`CREATE TABLE webhook_deliveries (
		id           TEXT PRIMARY KEY,
		hook_id      TEXT NOT NULL,
		event        TEXT NOT NULL,
		body         {{blob}} NOT NULL,
		state        TEXT NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		next_at      {{int64}} NOT NULL,
		lease_until  {{int64}},
		last_status  INTEGER NOT NULL DEFAULT 0,
		last_error   TEXT NOT NULL DEFAULT '',
		created_at   {{int64}} NOT NULL,
		delivered_at {{int64}}
	)`,
	`CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_at)`,
	`CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(hook_id, created_at)`,
}

// schemaV20 copies each run's batch owner and project onto the run (a
// batch never changes either), so the runs a user may see are read as one
// bounded index range per source and merged (visible_lists.go), as batches
// are, instead of walking every run newest first.
var schemaV20 = []string{
	`ALTER TABLE runs ADD COLUMN batch_owner_id TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE runs ADD COLUMN batch_project TEXT NOT NULL DEFAULT ''`,
	`UPDATE runs SET
		batch_owner_id = COALESCE((SELECT b.owner_id FROM batches b WHERE b.id = runs.batch_id), ''),
		batch_project = COALESCE((SELECT b.project FROM batches b WHERE b.id = runs.batch_id), '')`,
	`CREATE INDEX runs_batch_owner_created ON runs(batch_owner_id, created_at, id)`,
	`CREATE INDEX runs_batch_project_created ON runs(batch_project, created_at, id)`,
}
