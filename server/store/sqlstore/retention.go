package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// PruneRuns takes the oldest ended runs before before (runs_ended) and
// deletes what references them first: their output pieces and their
// commands, then the runs. The runs are locked as they are picked
// (PostgreSQL), so a replica sweeping at the same time waits for this
// chunk instead of deleting under it.
func (s *Store) PruneRuns(ctx context.Context, before time.Time, limit int) (store.Pruned, error) {
	var p store.Pruned
	err := s.inTx(ctx, func(c conn) error {
		rows, err := c.query(ctx, `SELECT r.id FROM runs r
			WHERE r.ended_at IS NOT NULL AND r.ended_at < ?
			ORDER BY r.ended_at, r.id LIMIT ?`+s.d.ForUpdate, dbTime(before), limit)
		if err != nil {
			return err
		}
		ids, err := collect(rows, func(r row) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		for len(ids) > 0 {
			n := min(len(ids), resourcesChunk)
			marks, args := inList(ids[:n])
			for _, step := range []struct {
				sql   string
				count *int
			}{
				{`DELETE FROM run_log WHERE run_id IN (` + marks + `)`, &p.LogPieces},
				{`DELETE FROM commands WHERE run_id IN (` + marks + `)`, &p.Commands},
				{`DELETE FROM run_events WHERE run_id IN (` + marks + `)`, new(int)},
				{`DELETE FROM runs WHERE id IN (` + marks + `)`, &p.Runs},
			} {
				res, err := c.exec(ctx, step.sql, args...)
				if err != nil {
					return err
				}
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				*step.count += int(k)
			}
			ids = ids[n:]
		}
		return nil
	})
	if err != nil {
		return store.Pruned{}, fmt.Errorf("prune runs: %w", err)
	}
	return p, nil
}

// PruneBatches deletes old batches without runs, oldest first
// (batches_created); the NOT EXISTS is answered by runs_batch.
func (s *Store) PruneBatches(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.pool().exec(ctx, `DELETE FROM batches WHERE id IN (
		SELECT b.id FROM batches b
		WHERE b.created_at < ? AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.batch_id = b.id)
		ORDER BY b.created_at, b.id LIMIT ?)`, dbTime(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune batches: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
