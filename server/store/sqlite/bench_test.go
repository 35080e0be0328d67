package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlstore"
)

// BenchmarkBatchesOfAUserWhoSeesLittle lists the first page of batches of
// bob, who sees 10 of a database's 100,010: alice recorded 100,000 after
// his. "merged" is the list as bob gets it (one bounded read per source);
// "walk" is the single visibility condition the list falls back to for a
// user who sees more than 50 projects (bob is made a recipient of 51
// empty ones), which walks alice's 100,000 to reach his. BENCHMARKS.md
// has the figures.
//
//	go test -run '^$' -bench BenchmarkBatchesOfAUserWhoSeesLittle ./server/store/sqlite
func BenchmarkBatchesOfAUserWhoSeesLittle(b *testing.B) {
	ctx := b.Context()
	s := openFile(b, filepath.Join(b.TempDir(), "argus.db"))
	db := s.(*sqlstore.Store).DB()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	alice, bob := store.User{ID: "u-alice", Name: "alice", CreatedAt: t0}, store.User{ID: "u-bob", Name: "bob", CreatedAt: t0}
	for _, u := range []store.User{alice, bob} {
		if err := s.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10 {
		batch := store.Batch{ID: fmt.Sprintf("bat_bob_%02d", i), OwnerID: bob.ID, Project: "audio", Name: "asr",
			CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		batch.Snapshot.Host = "gpu-02"
		if err := s.CreateBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO projects (name, owner_id, created_at) VALUES ('vision', ?, 0)`, alice.ID); err != nil {
		b.Fatal(err)
	}
	// Straight into the table, in one statement: through CreateBatch they
	// would take minutes.
	_, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO batches (id, owner_id, project, name, snapshot, host, created_at)
		SELECT printf('bat_%020d', i), ?, 'vision', printf('resnet-%d', i), '{"command":["python","train.py"],"host":"gpu-01"}',
		  'gpu-01', ? + i * 1000000 FROM n`, alice.ID, t0.Add(time.Hour).UnixMicro())
	if err != nil {
		b.Fatal(err)
	}
	list := func(b *testing.B) {
		for b.Loop() {
			got, _, err := s.ListBatches(ctx, bob.ID, store.BatchFilter{}, store.Page{Limit: 100})
			if err != nil || len(got) != 10 {
				b.Fatalf("bob's batches: %d (%v), want his 10", len(got), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
	}
	b.Run("merged", list)
	for i := range 51 {
		if _, err := db.ExecContext(ctx, `INSERT INTO projects (name, owner_id, created_at) VALUES (?, ?, 0)`, fmt.Sprintf("empty-%02d", i), alice.ID); err != nil {
			b.Fatal(err)
		}
		if err := s.AddRecipient(ctx, fmt.Sprintf("empty-%02d", i), bob.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("walk", list)
}
