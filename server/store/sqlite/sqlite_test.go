package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlstore"
	"github.com/argus-exec/argus/server/store/storetest"
	"github.com/argus-exec/argus/token"
)

func openFile(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, filepath.Join(t.TempDir(), "argus.db"))
	})
}

func TestConformanceInMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openFile(t, Memory) })
}

func TestOpenCreatesFileWithPragmas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new.db")
	s := openFile(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	db := s.(*sqlstore.Store).DB()
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path, want string }{
		{"missing directory", filepath.Join(dir, "nope", "x.db"), "does not exist"},
		{"directory as file", dir, "is a directory"},
		{"not a database", garbage, "not a database"},
		{"empty path", "", "no path given"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(context.Background(), c.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", c.path)
			}
			prefix := "open database " + c.path + ": "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open(%q) error %q, want %q…%q", c.path, err, prefix, c.want)
			}
		})
	}
}

func TestOpenReadOnlyDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		// Root ignores mode bits, so prove the check as an unprivileged user.
		runAsNobody(t, "TestOpenReadOnlyDirectory")
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), filepath.Join(dir, "x.db"))
	if err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Errorf("Open in a read-only directory: error %v, want 'is not writable'", err)
	}
}

// TestReopenKeepsEverything closes a database with one of every record in
// it and checks that reopening finds them all and applies no migration.
func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "argus.db")
	at := time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, at)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, path)
	if len(before) != len(sqlstore.Migrations()) {
		t.Fatalf("%d migrations recorded, want %d", len(before), len(sqlstore.Migrations()))
	}

	s = openFile(t, path)
	check(t, s, at)
	s.Close()
	if after := appliedMigrations(t, path); !reflect.DeepEqual(after, before) {
		t.Errorf("schema_migrations changed on reopen: %v, then %v", before, after)
	}
}

func fill(t testing.TB, s store.Store, at time.Time) {
	t.Helper()
	ctx := context.Background()
	alice := store.User{ID: "u-alice", Name: "alice", CreatedAt: at}
	agent := store.Agent{ID: "ag-1", UserID: alice.ID, Hostname: "gpu1", CreatedAt: at}
	batch := store.Batch{ID: "b-1", OwnerID: alice.ID, Project: "vision", Name: "train", CreatedAt: at,
		Snapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"python", "t.py"}}, Cwd: "/w", Host: "gpu1"}}
	run := store.Run{ID: "r-1", BatchID: batch.ID, AgentID: agent.ID, CreatedAt: at}
	cmd := store.Command{ID: "c-1", AgentID: agent.ID, RunID: run.ID, Kind: api.KindRerun, CreatedAt: at,
		Payload: api.Command{ID: "c-1", Kind: api.KindRerun, RunID: run.ID, CreatedAt: at}}
	for _, err := range []error{
		s.CreateUser(ctx, alice),
		s.CreateToken(ctx, store.Token{ID: "t-user", Hash: "h-user", Kind: token.User, UserID: alice.ID, CreatedAt: at}),
		s.RegisterAgent(ctx, agent, store.Token{ID: "t-agent", Hash: "h-agent", Kind: token.Agent,
			UserID: alice.ID, AgentID: agent.ID, CreatedAt: at}),
		s.Heartbeat(ctx, agent.ID, at),
		s.CreateBatch(ctx, batch),
		s.QueueRerun(ctx, run, cmd),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func check(t *testing.T, s store.Store, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if u, err := s.UserByName(ctx, "alice"); err != nil || u.ID != "u-alice" {
		t.Errorf("user after reopen: %+v, %v", u, err)
	}
	if tok, err := s.TokenByHash(ctx, "h-agent"); err != nil || tok.AgentID != "ag-1" {
		t.Errorf("agent token after reopen: %+v, %v", tok, err)
	}
	if tok, err := s.TokenByHash(ctx, "h-user"); err != nil || tok.UserID != "u-alice" {
		t.Errorf("user token after reopen: %+v, %v", tok, err)
	}
	if a, err := s.Agent(ctx, "ag-1"); err != nil || !a.LastHeartbeat.Equal(at) {
		t.Errorf("agent after reopen: %+v, %v", a, err)
	}
	if b, err := s.Batch(ctx, "b-1"); err != nil || b.Snapshot.Command.Argv[1] != "t.py" {
		t.Errorf("batch after reopen: %+v, %v", b, err)
	}
	if r, err := s.Run(ctx, "r-1"); err != nil || r.Status != api.RunQueued {
		t.Errorf("run after reopen: %+v, %v", r, err)
	}
	got, err := s.ClaimCommands(ctx, "ag-1", at.Add(time.Minute), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != "c-1" {
		t.Errorf("queued command after reopen: claim gave %+v, %v", got, err)
	}
}

// appliedMigrations reads schema_migrations straight from the file.
func appliedMigrations(t *testing.T, path string) map[int]int64 {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		out[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrateAppliesOnlyNew grows a migration list and checks that each
// run applies just the new versions: re-running v1, a plain CREATE TABLE,
// would fail.
func TestMigrateAppliesOnlyNew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1 := sqlstore.Migration{Version: 1, Stmts: []string{`CREATE TABLE a (id {{int64}})`}}
	v2 := sqlstore.Migration{Version: 2, Stmts: []string{`CREATE TABLE b (id {{int64}})`, `INSERT INTO b VALUES (1)`}}
	bad := sqlstore.Migration{Version: 3, Stmts: []string{`CREATE TABLE c (id INTEGER)`, `NOT SQL`}}
	v4 := sqlstore.Migration{Version: 4, Stmts: []string{`CREATE TABLE d (id {{int64}})`}}
	v5 := sqlstore.Migration{Version: 5, Stmts: []string{`CREATE TABLE e (id {{int64}})`}}

	for _, step := range []struct {
		ms   []sqlstore.Migration
		want []int
	}{
		{[]sqlstore.Migration{v1}, []int{1}},
		{[]sqlstore.Migration{v1, v2}, []int{2}},
		{[]sqlstore.Migration{v1, v2}, nil},
		// Versions need not be consecutive, and one missing below the
		// newest is applied when it appears: branches developed side by
		// side each add their own version, and merge in any order.
		{[]sqlstore.Migration{v1, v2, v5}, []int{5}},
		{[]sqlstore.Migration{v1, v2, v4, v5}, []int{4}},
	} {
		got, err := sqlstore.Migrate(ctx, db, Dialect(), step.ms)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, step.want) {
			t.Errorf("Migrate applied %v, want %v", got, step.want)
		}
	}

	// A failing migration leaves nothing of itself behind.
	if _, err := sqlstore.Migrate(ctx, db, Dialect(), []sqlstore.Migration{v1, v2, bad, v4, v5}); err == nil {
		t.Fatal("Migrate with a broken migration succeeded")
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table of the failed migration exists (count %d, %v)", n, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = 3`).Scan(&n); err != nil || n != 0 {
		t.Errorf("failed migration recorded (count %d, %v)", n, err)
	}
}

// TestUpgradeFromV1 opens a database written by a v1 server: the new
// migration must apply, agents must read with Revoked, and the revoked
// check must be an index search rather than a scan of every token.
func TestUpgradeFromV1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.Migrate(ctx, db, Dialect(), sqlstore.Migrations()[:1]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, name, created_at) VALUES ('u-1', 'alice', 1)`,
		`INSERT INTO agents (id, user_id, hostname, created_at) VALUES ('ag-1', 'u-1', 'gpu1', 1)`,
		`INSERT INTO tokens (id, hash, kind, user_id, agent_id, created_at, revoked_at)
			VALUES ('t-1', 'h-1', 'agent', 'u-1', 'ag-1', 1, 2)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := openFile(t, path)
	if got := appliedMigrations(t, path); len(got) != len(sqlstore.Migrations()) {
		t.Errorf("migrations after upgrade: %v, want %d", got, len(sqlstore.Migrations()))
	}
	if a, err := s.Agent(ctx, "ag-1"); err != nil || !a.Revoked {
		t.Errorf("v1 agent with only a revoked token: %+v, %v; want Revoked", a, err)
	}

	rows, err := s.(*sqlstore.Store).DB().QueryContext(ctx, `EXPLAIN QUERY PLAN
		SELECT 1 FROM tokens t WHERE t.agent_id = ? AND t.revoked_at IS NULL`, "ag-1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "INDEX tokens_agent") {
		t.Errorf("live-token lookup plan %q does not use tokens_agent", p)
	}
}

func benchStore(b *testing.B) store.Store {
	s := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
	fill(b, s, time.Now())
	return s
}

func BenchmarkHeartbeat(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Heartbeat(ctx, "ag-1", time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHeartbeats flushes the heartbeats of 5000 agents at once, as a
// replica does with the heartbeats it coalesced.
func BenchmarkHeartbeats(b *testing.B) {
	const agents = 5000
	s := benchStore(b)
	ctx := context.Background()
	beats := make(map[string]time.Time, agents)
	for i := range agents {
		a := store.Agent{ID: fmt.Sprintf("ag-b%05d", i), UserID: "u-alice", Hostname: "h", CreatedAt: time.Now()}
		err := s.RegisterAgent(ctx, a, store.Token{ID: "t-" + a.ID, Hash: "h-" + a.ID, Kind: token.Agent,
			UserID: a.UserID, AgentID: a.ID, CreatedAt: a.CreatedAt})
		if err != nil {
			b.Fatal(err)
		}
		beats[a.ID] = time.Time{}
	}
	for b.Loop() {
		now := time.Now()
		for id := range beats {
			beats[id] = now
		}
		if err := s.Heartbeats(ctx, beats); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenByHash(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.TokenByHash(ctx, "h-agent"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// runAsNobody re-runs one test of this binary as uid/gid 65534 through
// setpriv(1). The binary is copied to a world-readable place first, since
// go test keeps it in a directory only root may enter.
func runAsNobody(t *testing.T, test string) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("running as root needs setpriv (util-linux) to drop privileges: %v", err)
	}
	dir, err := os.MkdirTemp("", "argus-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sqlite.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "-test.run=^"+test+"$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp", "HOME=/tmp")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("%s as nobody: %v\n%s", test, err, out)
	}
}

// A database migrated by a newer argus-server is refused, not misread.
func TestOpenRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "argus.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer than this argus-server") {
		t.Fatalf("open of a newer schema: %v", err)
	}
}

func TestUpgradeOutputToBytes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v8.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.UpgradeOutputToBytes(t, db, Dialect(), func() store.Store { return openFile(t, path) })
}

// TestHotQueriesUseTheirIndexes: every hot path's query (sqlstore.HotQueries)
// is planned on its index, and reads no table or index whole ("SCAN"), so
// none is a scan of the fleet or of history. Run with -v for the plans.
func TestHotQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	s := openFile(t, filepath.Join(t.TempDir(), "argus.db"))
	db := s.(*sqlstore.Store).DB()
	for _, q := range sqlstore.HotQueries() {
		rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.Rebind(Dialect()), q.Args...)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		t.Logf("%s: %s", q.Name, p)
		if !usesOne(plan, q.Indexes) {
			t.Errorf("%s: plan %q uses none of %v", q.Name, p, q.Indexes)
		}
		for _, step := range plan {
			switch {
			case !strings.HasPrefix(step, "SCAN ") || boundedScan(plan, step):
			case q.Walk != "":
				t.Logf("%s: known walk (%s): %s", q.Name, q.Walk, step)
			default:
				t.Errorf("%s: plan %q reads a whole table or index: %s", q.Name, p, step)
			}
		}
	}
}

// boundedScan: step reads a list of constants (a VALUES list), or a
// subquery the plan materializes or runs as a co-routine, whose own steps
// are checked in turn.
func boundedScan(plan []string, step string) bool {
	if step == "SCAN CONSTANT ROW" || strings.HasSuffix(step, " CONSTANT ROWS") {
		return true
	}
	sub := strings.TrimPrefix(step, "SCAN ")
	return slices.Contains(plan, "MATERIALIZE "+sub) || slices.Contains(plan, "CO-ROUTINE "+sub)
}

// usesOne: a step of plan searches or scans one of indexes (by its exact
// name: "USING INDEX x (", "USING COVERING INDEX x (" or at the end).
func usesOne(plan []string, indexes []string) bool {
	for _, step := range plan {
		for _, ix := range indexes {
			if strings.Contains(step+" ", "INDEX "+ix+" ") {
				return true
			}
		}
	}
	return false
}

// TestAFullDatabaseIsUnwritable: writes past the database's size limit
// fail with SQLITE_FULL, which the store calls unwritable (the server
// answers 503), while a constraint violation is not; the write probe
// succeeds on a database with room.
func TestAFullDatabaseIsUnwritable(t *testing.T) {
	t.Parallel()
	s := openFile(t, filepath.Join(t.TempDir(), "argus.db"))
	if err := s.ProbeWrite(t.Context()); err != nil || s.Unwritable(err) {
		t.Fatalf("write probe on a database with room: %v", err)
	}
	conn, err := s.(*sqlstore.Store).DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pages int
	if err := conn.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The same as the disk filling up, for this connection: no page more.
	if _, err := conn.ExecContext(t.Context(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		_, full = conn.ExecContext(t.Context(), `INSERT INTO write_probe (id, at) VALUES (?, ?)`, i+2, strings.Repeat("x", 4000))
	}
	if full == nil || !s.Unwritable(full) {
		t.Fatalf("a write past the size limit: %v; want an error the store calls unwritable", full)
	}
	_, dup := conn.ExecContext(t.Context(), `INSERT INTO write_probe (id, at) VALUES (1, 0)`)
	if dup == nil || s.Unwritable(dup) {
		t.Fatalf("a duplicate key: %v; want an error that is not unwritable", dup)
	}
}
