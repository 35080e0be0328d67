package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/argus-exec/argus/server/store"
)

// BatchRuns counts a page of batches' runs and finds the newest of each:
// one statement of correlated lookups on runs_batch (batch_id, created_at)
// per chunk, then the newest runs by id. The caller has already checked
// that the batches are the user's to see.
func (s *Store) BatchRuns(ctx context.Context, batchIDs []string) (map[string]store.BatchRuns, error) {
	out := make(map[string]store.BatchRuns, len(batchIDs))
	for len(batchIDs) > 0 {
		n := min(len(batchIDs), resourcesChunk)
		if err := s.batchRunsChunk(ctx, batchIDs[:n], out); err != nil {
			return nil, fmt.Errorf("batch runs: %w", err)
		}
		batchIDs = batchIDs[n:]
	}
	return out, nil
}

func (s *Store) batchRunsChunk(ctx context.Context, ids []string, out map[string]store.BatchRuns) error {
	marks, args := inList(ids)
	rows, err := s.pool().query(ctx, `SELECT b.id,
		(SELECT COUNT(*) FROM runs c WHERE c.batch_id = b.id),
		(SELECT l.id FROM runs l WHERE l.batch_id = b.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
		FROM batches b WHERE b.id IN (`+marks+`)`, args...)
	if err != nil {
		return err
	}
	type counted struct {
		batchID string
		count   int
		lastID  *string
	}
	got, err := collect(rows, func(r row) (counted, error) {
		var c counted
		return c, r.Scan(&c.batchID, &c.count, &c.lastID)
	})
	if err != nil {
		return err
	}
	last := map[string]string{} // run id → batch id
	for _, c := range got {
		if c.count > 0 && c.lastID != nil {
			out[c.batchID] = store.BatchRuns{Count: c.count}
			last[*c.lastID] = c.batchID
		}
	}
	if len(last) == 0 {
		return nil
	}
	runIDs := make([]string, 0, len(last))
	for id := range last {
		runIDs = append(runIDs, id)
	}
	marks, args = inList(runIDs)
	runRows, err := s.pool().query(ctx, `SELECT `+runCols+` FROM runs r WHERE r.id IN (`+marks+`)`, args...)
	if err != nil {
		return err
	}
	runs, err := collect(runRows, scanRun)
	if err != nil {
		return err
	}
	for _, run := range runs {
		br := out[last[run.ID]]
		br.Last = run
		out[last[run.ID]] = br
	}
	return nil
}

// inList is the placeholders and arguments of an IN list of ids (at most
// resourcesChunk), padded to one of a few sizes by repeating the last id,
// so that a handful of prepared statements serve every page size.
func inList(ids []string) (string, []any) {
	n := paddedRows(len(ids))
	args := make([]any, n)
	for i := range n {
		args[i] = ids[min(i, len(ids)-1)]
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", "), args
}

// hostsWithoutAgentSQL skips through the user's batches by (owner_id,
// LOWER(host)) from one host to the next (a loose index scan: one seek a
// host), rather than reading every batch, and keeps the hosts none of the
// user's agents is named after, each once whatever its case (one of its
// spellings: the first batch found, not the least, which would read every
// batch of the host), in order. The home page asks on every refresh; a
// user's batches are many, their hosts few. Host names compare without
// regard to case, as reruns match them.
const hostsWithoutAgentSQL = `WITH RECURSIVE hosts(h) AS (
		SELECT (SELECT MIN(LOWER(b.host)) FROM batches b WHERE b.owner_id = ? AND LOWER(b.host) > '')
		UNION ALL
		SELECT (SELECT MIN(LOWER(b.host)) FROM batches b WHERE b.owner_id = ? AND LOWER(b.host) > hosts.h)
		FROM hosts WHERE hosts.h IS NOT NULL
	)
	SELECT (SELECT b.host FROM batches b WHERE b.owner_id = ? AND LOWER(b.host) = hosts.h LIMIT 1)
	FROM hosts
	WHERE hosts.h IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.user_id = ? AND LOWER(a.hostname) = hosts.h)
	ORDER BY hosts.h
	LIMIT ?`

// HostsWithoutAgent returns up to limit hosts of the user's own batches
// that none of the user's agents is named after (hostsWithoutAgentSQL).
func (s *Store) HostsWithoutAgent(ctx context.Context, userID string, limit int) ([]string, error) {
	rows, err := s.pool().query(ctx, hostsWithoutAgentSQL, userID, userID, userID, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("hosts without agent: %w", err)
	}
	return collect(rows, func(r row) (string, error) {
		var host string
		return host, r.Scan(&host)
	})
}

// CommandCounts groups the agents' unacked commands by state, on
// commands_agent_state (agent_id, state, created_at).
func (s *Store) CommandCounts(ctx context.Context, agentIDs []string) (map[string]map[store.CommandState]int, error) {
	out := map[string]map[store.CommandState]int{}
	for len(agentIDs) > 0 {
		n := min(len(agentIDs), resourcesChunk)
		marks, args := inList(agentIDs[:n])
		rows, err := s.pool().query(ctx, `SELECT c.agent_id, c.state, COUNT(*) FROM commands c
			WHERE c.agent_id IN (`+marks+`) AND c.state IN ('queued', 'delivered', 'starting')
			GROUP BY c.agent_id, c.state`, args...)
		if err != nil {
			return nil, fmt.Errorf("command counts: %w", err)
		}
		type counted struct {
			agentID, state string
			count          int
		}
		got, err := collect(rows, func(r row) (counted, error) {
			var c counted
			return c, r.Scan(&c.agentID, &c.state, &c.count)
		})
		if err != nil {
			return nil, fmt.Errorf("command counts: %w", err)
		}
		for _, c := range got {
			if out[c.agentID] == nil {
				out[c.agentID] = map[store.CommandState]int{}
			}
			out[c.agentID][store.CommandState(c.state)] = c.count
		}
		agentIDs = agentIDs[n:]
	}
	return out, nil
}
