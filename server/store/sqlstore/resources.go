package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/argus-exec/argus/server/store"
)

// resourcesChunk is the most reports one statement writes (three bind
// parameters each).
const resourcesChunk = 256

// SaveResources upserts reports a chunk per statement, in agent id order
// (so two replicas writing at once lock rows in the same order). Reports
// are small and replace each other whole: there is nothing to merge.
func (s *Store) SaveResources(ctx context.Context, reports map[string]store.ResourceReport) error {
	if len(reports) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(reports))
	err := s.inTx(ctx, func(c conn) error {
		for len(ids) > 0 {
			n := min(len(ids), resourcesChunk)
			rows := paddedRows(n)
			args := make([]any, 0, 3*rows)
			for i := range rows {
				id := ids[min(i, n-1)] // padding repeats the last row: DISTINCT folds it
				r := reports[id]
				args = append(args, id, string(r.Report), dbTime(r.At))
			}
			if _, err := c.exec(ctx, saveResourcesSQL(rows), args...); err != nil {
				return err
			}
			ids = ids[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save resources: %w", err)
	}
	return nil
}

// saveResourcesSQL is the upsert of n rows. The rows go through a SELECT
// so that a padded chunk's repeated last row folds into one (an upsert
// may not touch a row twice); WHERE true is SQLite's way to tell the
// upsert's ON CONFLICT from a join's ON.
func saveResourcesSQL(n int) string {
	values := strings.TrimSuffix(strings.Repeat("(?, ?, CAST(? AS BIGINT)), ", n), ", ")
	return `INSERT INTO agent_resources (agent_id, report, reported_at)
	SELECT DISTINCT column1, column2, column3 FROM (VALUES ` + values + `) AS v WHERE true
	ON CONFLICT (agent_id) DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at
	WHERE agent_resources.reported_at < excluded.reported_at`
}

// paddedRows is the statement size for n rows: one of a few, so that a
// handful of prepared statements serve every size.
func paddedRows(n int) int {
	return listRows[slices.IndexFunc(listRows, func(r int) bool { return r >= n })]
}

var listRows = []int{1, 8, 64, resourcesChunk}

// Resources reads the reports of agentIDs (a page of agents: at most a
// list's limit), by primary key.
func (s *Store) Resources(ctx context.Context, agentIDs []string) (map[string]store.ResourceReport, error) {
	out := make(map[string]store.ResourceReport, len(agentIDs))
	for len(agentIDs) > 0 {
		n := min(len(agentIDs), resourcesChunk)
		marks, args := inList(agentIDs[:n])
		rows, err := s.pool().query(ctx, `SELECT agent_id, report, reported_at FROM agent_resources WHERE agent_id IN (`+marks+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("resources: %w", err)
		}
		type stored struct {
			id     string
			report store.ResourceReport
		}
		got, err := collect(rows, func(r row) (stored, error) {
			var st stored
			var report string
			var at int64
			err := r.Scan(&st.id, &report, &at)
			st.report = store.ResourceReport{Report: []byte(report), At: goTime(at)}
			return st, err
		})
		if err != nil {
			return nil, fmt.Errorf("resources: %w", err)
		}
		for _, st := range got {
			out[st.id] = st.report
		}
		agentIDs = agentIDs[n:]
	}
	return out, nil
}
