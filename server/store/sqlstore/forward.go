package sqlstore

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// A forward column is a time that only moves forward (an agent's last
// heartbeat, a token's last use): servers write them behind, in batches,
// so an older time can arrive after a newer one and must change nothing.
type forwardColumn struct {
	table, column string
}

var (
	agentHeartbeats = forwardColumn{"agents", "last_heartbeat"}
	tokenLastUses   = forwardColumn{"tokens", "last_used_at"}
)

// forwardChunk is the most rows one statement moves: 1024 bind
// parameters, well under both engines' limits.
const forwardChunk = 512

// forwardRows are the row counts statements are prepared for; a chunk is
// padded to the next one by repeating its last row (the same values twice
// change nothing), so a handful of statements serve every size.
var forwardRows = []int{1, 8, 64, forwardChunk}

// moveForward writes times (row id → time) into f inside the transaction
// c, a few hundred rows per statement: thousands of them then cost a few
// round trips, not one per row, which over PostgreSQL's protocol was most
// of a large fleet's database time. Rows are locked in id order first
// (PostgreSQL), so two replicas writing at once cannot deadlock; unknown
// ids match no row and are skipped.
func (s *Store) moveForward(ctx context.Context, c conn, f forwardColumn, times map[string]time.Time) error {
	ids := slices.Sorted(maps.Keys(times))
	for len(ids) > 0 {
		n := min(len(ids), forwardChunk)
		if err := s.moveForwardChunk(ctx, c, f, ids[:n], times); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (s *Store) moveForwardChunk(ctx context.Context, c conn, f forwardColumn, ids []string, times map[string]time.Time) error {
	rows := forwardRows[slices.IndexFunc(forwardRows, func(n int) bool { return n >= len(ids) })]
	lockSQL, updateSQL := f.sql(rows, s.d.ForUpdate)
	lockArgs := make([]any, 0, rows)
	updateArgs := make([]any, 0, 2*rows)
	for i := range rows {
		id := ids[min(i, len(ids)-1)]
		lockArgs = append(lockArgs, id)
		updateArgs = append(updateArgs, id, dbTime(times[id]))
	}
	if s.d.ForUpdate != "" {
		locked, err := c.query(ctx, lockSQL, lockArgs...)
		if err != nil {
			return s.classify(err)
		}
		for locked.Next() {
		}
		if err := locked.Close(); err != nil {
			return s.classify(err)
		}
	}
	_, err := c.exec(ctx, updateSQL, updateArgs...)
	return err
}

// sql is the rule for n rows: one UPDATE … FROM a VALUES list (both
// engines: SQLite since 3.33), and the SELECT that locks the rows in id
// order beforehand.
func (f forwardColumn) sql(n int, forUpdate string) (lock, update string) {
	marks := strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	values := strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT)), ", n), ", ")
	lock = `SELECT id FROM ` + f.table + ` WHERE id IN (` + marks + `) ORDER BY id` + forUpdate
	update = `UPDATE ` + f.table + ` SET ` + f.column + ` = v.at
	FROM (SELECT column1 AS id, column2 AS at FROM (VALUES ` + values + `) AS x) AS v
	WHERE ` + f.table + `.id = v.id AND (` + f.table + `.` + f.column + ` IS NULL OR ` + f.table + `.` + f.column + ` < v.at)`
	return lock, update
}
