package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/argus-exec/argus/server/store"
)

// The batches a user may see, and their runs, are the user's own and those
// of every project they own or receive. Written as one condition
// (visibleBatch), no engine can read that from an index: the list walks
// every batch (or run) newest first until its page is full, so a user who
// sees little of a large database reads all of it, on every refresh of
// the web UI's home page. Instead a list is a merge of one bounded read
// per source: the user's own (by owner and creation) and each visible
// project's (by project and creation), each at most a page long, merged
// and cut to the page. A user's own item in a visible project comes from
// two reads: the merge keeps both (excluding the user's own from a
// project's read would walk them all, in a project of mostly theirs), and
// listPage drops the second (the two are adjacent in the merged order).
// So the merge reads twice a page: at most two rows stand for one item.
// A user who sees more projects than maxMergedProjects, and a list
// narrowed in a way an index of its own serves better, keep the single
// condition.

// maxMergedProjects bounds the reads of one merged page.
const maxMergedProjects = 50

// visibleProjectsSQL names the projects whose batches a user sees besides
// their own, one more than a merge takes (to know it is too many).
const visibleProjectsSQL = `SELECT name FROM projects WHERE owner_id = ?
	UNION SELECT project FROM project_recipients WHERE user_id = ?
	LIMIT ?`

// visibleProjects returns the projects userID owns or receives, and false
// when there are more than a merge takes.
func (s *Store) visibleProjects(ctx context.Context, userID string) ([]string, bool, error) {
	rows, err := s.pool().query(ctx, visibleProjectsSQL, userID, userID, maxMergedProjects+1)
	if err != nil {
		return nil, false, fmt.Errorf("visible projects: %w", err)
	}
	names, err := collect(rows, func(r row) (string, error) {
		var name string
		return name, r.Scan(&name)
	})
	if err != nil {
		return nil, false, fmt.Errorf("visible projects: %w", err)
	}
	return names, len(names) <= maxMergedProjects, nil
}

// merged is a list read as a merge: the table's alias, the SELECT of one
// read, its owner and project columns, and the conditions every read adds.
type merged struct {
	table, sel           string
	ownerCol, projectCol string
	narrow               pageQuery
}

// sql is the merged list of what userID sees through projects: one
// newest-first read of at most a page (and one) per source, merged in the
// same order and cut to the page.
func (m merged) sql(userID string, projects []string, p store.Page) (string, []any, error) {
	var parts []string
	var args []any
	read := func(conds string, condArgs ...any) error {
		q := pageQuery{table: m.table}
		q.and(conds, condArgs...)
		q.where = append(q.where, m.narrow.where...)
		q.args = append(q.args, m.narrow.args...)
		part, partArgs, err := q.sql(m.sel, p)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("SELECT * FROM (%s) s%d", part, len(parts)))
		args = append(args, partArgs...)
		return nil
	}
	if err := read(m.ownerCol+" = ?", userID); err != nil {
		return "", nil, err
	}
	for _, project := range projects {
		// The projects were read by another statement: the condition
		// again, so a share revoked in between shows nothing of the
		// project (a few index probes for each row of a page).
		if err := read(m.projectCol+" = ? AND "+visibleBatch, project, userID, userID, userID); err != nil {
			return "", nil, err
		}
	}
	query := strings.Join(parts, " UNION ALL ") + " ORDER BY created_at DESC, id DESC LIMIT ?"
	return query, append(args, 2*(p.Limit+1)), nil
}

// listBatchesQuery is ListBatches' query: merged, unless narrowed to a
// project or the user sees too many projects.
func (s *Store) listBatchesQuery(ctx context.Context, userID string, f store.BatchFilter, p store.Page) (string, []any, error) {
	return s.visibleListQuery(ctx, userID, f.Project != "",
		func() (string, []any, error) { return listBatchesSQL(userID, f, p) },
		func(projects []string) (string, []any, error) { return mergedBatchesSQL(userID, projects, f, p) })
}

// visibleListQuery is a list's single-condition query (single) when the
// list is narrowed or the user sees too many projects to merge, else its
// merged query over the projects the user sees.
func (s *Store) visibleListQuery(ctx context.Context, userID string, narrowed bool,
	single func() (string, []any, error), merge func(projects []string) (string, []any, error)) (string, []any, error) {
	if narrowed {
		return single()
	}
	projects, mergeable, err := s.visibleProjects(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	if !mergeable {
		return single()
	}
	return merge(projects)
}

// mergedBatchesSQL is the merged batches list.
func mergedBatchesSQL(userID string, projects []string, f store.BatchFilter, p store.Page) (string, []any, error) {
	m := merged{table: "b", sel: `SELECT ` + batchCols + ` FROM batches b`, ownerCol: "b.owner_id", projectCol: "b.project"}
	if f.Host != "" {
		m.narrow.and("LOWER(b.host) = LOWER(?)", f.Host)
	}
	return m.sql(userID, projects, p)
}

// listRunsQuery is ListRunsForUser's query: merged, unless narrowed to a
// batch, an agent, a project or a status (each read through an index of
// its own: bounded by what it names, though a status as common as exited
// names most runs) or the user sees too many projects.
func (s *Store) listRunsQuery(ctx context.Context, userID string, f store.RunFilter, p store.Page) (string, []any, error) {
	return s.visibleListQuery(ctx, userID, f.BatchID != "" || f.AgentID != "" || f.Project != "" || f.Status != "",
		func() (string, []any, error) { return listRunsSQL(userID, f, p) },
		func(projects []string) (string, []any, error) { return mergedRunsSQL(userID, projects, f, p) })
}

// mergedRunsSQL is the merged runs list, by the batch owner and project
// each run carries (schemaV20).
func mergedRunsSQL(userID string, projects []string, f store.RunFilter, p store.Page) (string, []any, error) {
	m := merged{table: "r", sel: `SELECT ` + runCols + ` FROM runs r JOIN batches b ON b.id = r.batch_id`,
		ownerCol: "r.batch_owner_id", projectCol: "r.batch_project"}
	if f.Host != "" {
		m.narrow.and("LOWER(b.host) = LOWER(?)", f.Host)
	}
	return m.sql(userID, projects, p)
}
