package storetest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlstore"
)

// UpgradeOutputToBytes checks migrations 9, 17 and 20 on an engine: db is an empty
// database of the engine with dialect d, and open opens the same database
// as a Store, which migrates it to the last version. Output stored as text
// before must read back as the same bytes after, backslashes included
// (PostgreSQL would read them as escapes in a plain cast to BYTEA), and a
// run without output must have none.
func UpgradeOutputToBytes(t *testing.T, db *sql.DB, d sqlstore.Dialect, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := sqlstore.Migrate(ctx, db, d, sqlstore.Migrations()[:8]); err != nil {
		t.Fatal(err)
	}
	const text = `loss=0.1 \x00 \\ é` + "\n"
	for _, q := range []string{
		`INSERT INTO users (id, name, created_at) VALUES ('u-1', 'alice', 1)`,
		`INSERT INTO agents (id, user_id, hostname, created_at) VALUES ('ag-1', 'u-1', 'gpu1', 1)`,
		`INSERT INTO projects (name, owner_id, created_at) VALUES ('p', 'u-1', 1)`,
		`INSERT INTO batches (id, owner_id, project, name, snapshot, created_at) VALUES ('b-1', 'u-1', 'p', 'n', '{}', 1)`,
		`INSERT INTO batches (id, owner_id, project, name, snapshot, created_at) VALUES ('b-2', 'u-1', 'p', 'n', '{"host":"gpu7","cwd":"/x"}', 2)`,
		`INSERT INTO runs (id, batch_id, agent_id, status, output_tail, created_at)
			VALUES ('r-text', 'b-1', 'ag-1', 'exited', '` + text + `', 1)`,
		`INSERT INTO runs (id, batch_id, agent_id, status, created_at) VALUES ('r-none', 'b-1', 'ag-1', 'exited', 2)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s := open()
	// Migration 17 copies each snapshot's host into batches.host.
	onGPU7, _, err := s.ListBatches(ctx, "u-1", store.BatchFilter{Host: "gpu7"}, store.Page{Limit: 10})
	if err != nil || len(onGPU7) != 1 || onGPU7[0].ID != "b-2" {
		t.Fatalf("after the upgrade, batches on gpu7 = %v, %v; want b-2 (its host copied from the snapshot)", onGPU7, err)
	}
	// Migration 20 copies each run's batch owner and project onto it: the
	// merged runs list reads them.
	runs, _, err := s.ListRunsForUser(ctx, "u-1", store.RunFilter{}, store.Page{Limit: 10})
	if err != nil || len(runs) != 2 {
		t.Fatalf("after the upgrade, u-1's runs = %v, %v; want r-text and r-none", runs, err)
	}
	for id, want := range map[string]string{"r-text": text, "r-none": ""} {
		r, err := s.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputTail != want {
			t.Errorf("run %s after migration 9: output %q, want %q", id, r.OutputTail, want)
		}
	}
}
