package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlstore"
	"github.com/argus-exec/argus/token"
)

// BenchmarkListsOfAUserWhoSeesLittle lists the first page of the batches
// and of the runs of bob, who sees 10 of a database's 100,010 batches
// (and of their runs, one each): alice recorded and ran 100,000 after his.
// "merged" is a list as bob gets it (one bounded read per source); "walk"
// is the single visibility condition a list falls back to for a user who
// sees more than 50 projects (bob is made a recipient of 51 empty ones),
// which walks alice's 100,000 to reach his. BENCHMARKS.md has the figures.
//
//	go test -run '^$' -bench BenchmarkListsOfAUserWhoSeesLittle ./server/store/sqlite
func BenchmarkListsOfAUserWhoSeesLittle(b *testing.B) {
	ctx := b.Context()
	s := openFile(b, filepath.Join(b.TempDir(), "argus.db"))
	db := s.(*sqlstore.Store).DB()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bob := seedLittleAndMuch(b, ctx, s, db, t0)

	// page times one list's first page, which must hold bob's 10.
	page := func(what string, list func() (int, error)) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if n, err := list(); err != nil || n != 10 {
					b.Fatalf("bob's %s: %d (%v), want his 10", what, n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
		}
	}
	batches := page("batches", func() (int, error) {
		got, _, err := s.ListBatches(ctx, bob.ID, store.BatchFilter{}, store.Page{Limit: 100})
		return len(got), err
	})
	runs := page("runs", func() (int, error) {
		got, _, err := s.ListRunsForUser(ctx, bob.ID, store.RunFilter{}, store.Page{Limit: 100})
		return len(got), err
	})
	b.Run("batches/merged", batches)
	b.Run("runs/merged", runs)
	for i := range 51 {
		project := fmt.Sprintf("empty-%02d", i)
		if _, err := db.ExecContext(ctx, `INSERT INTO projects (name, owner_id, created_at) VALUES (?, 'u-alice', 0)`, project); err != nil {
			b.Fatal(err)
		}
		if err := s.AddRecipient(ctx, project, bob.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("batches/walk", batches)
	b.Run("runs/walk", runs)
}

// seedLittleAndMuch records bob's 10 batches and runs through the store,
// then alice's 100,000 newer ones straight into the tables (through the
// store they would take minutes), and returns bob.
func seedLittleAndMuch(b *testing.B, ctx context.Context, s store.Store, db *sql.DB, t0 time.Time) store.User {
	alice, bob := store.User{ID: "u-alice", Name: "alice", CreatedAt: t0}, store.User{ID: "u-bob", Name: "bob", CreatedAt: t0}
	for _, u := range []store.User{alice, bob} {
		if err := s.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	agent := store.Agent{ID: "agt_bob", UserID: bob.ID, Hostname: "gpu-02", CreatedAt: t0}
	if err := s.RegisterAgent(ctx, agent, store.Token{ID: "tok_bob_agent", Hash: "hash-bob-agent", Kind: token.Agent, UserID: bob.ID, AgentID: agent.ID, CreatedAt: t0}); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		batch := store.Batch{ID: fmt.Sprintf("bat_bob_%02d", i), OwnerID: bob.ID, Project: "audio", Name: "asr", CreatedAt: at}
		batch.Snapshot.Host = "gpu-02"
		if err := s.CreateBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		run := store.Run{ID: fmt.Sprintf("run_bob_%02d", i), BatchID: batch.ID, AgentID: agent.ID, CreatedAt: at}
		cmd := store.Command{ID: fmt.Sprintf("cmd_bob_%02d", i), AgentID: agent.ID, RunID: run.ID, Kind: api.KindRerun, CreatedAt: at,
			Payload: api.Command{Kind: api.KindRerun, RunID: run.ID, BatchID: batch.ID, CreatedAt: at}}
		if err := s.QueueRerun(ctx, run, cmd); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO projects (name, owner_id, created_at) VALUES ('vision', 'u-alice', 0)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO batches (id, owner_id, project, name, snapshot, host, created_at)
		SELECT printf('bat_%020d', i), 'u-alice', 'vision', printf('resnet-%d', i), '{"command":["python","train.py"],"host":"gpu-01"}',
		  'gpu-01', ? + i * 1000000 FROM n`,
		`INSERT INTO runs (id, batch_id, agent_id, status, created_at, requested_by, batch_owner_id, batch_project)
		SELECT 'run_' || substr(id, 5), id, 'agt_bob', 'exited', created_at, 'alice', owner_id, project FROM batches WHERE owner_id = 'u-alice'`,
	} {
		if _, err := db.ExecContext(ctx, q, t0.Add(time.Hour).UnixMicro()); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	return bob
}
