package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/argus-exec/argus/server/store"
)

// The batches a user may see are theirs, and those of every project they
// own or receive. Written as one condition (visibleBatch), no engine can
// read that from an index: the list walks every batch newest first until
// its page is full, so a user who sees little of a large database reads
// all of it, on every refresh of the web UI's home page. Instead the list
// is a merge of one bounded read per source: the user's own batches
// (batches_owner_created) and each visible project's batches by others
// (batches_project_created), each at most a page long, merged and cut to
// the page. A user who sees more projects than maxMergedProjects, or a
// list narrowed to one project, keeps the single condition.

// maxMergedProjects bounds the reads of one merged page.
const maxMergedProjects = 50

// visibleProjectsSQL names the projects whose batches a user sees besides
// their own, one more than the merge takes (to know it is too many).
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

// listBatchesQuery is ListBatches' query: the merge when projects says
// which projects to merge (mergeable), else the single condition.
func (s *Store) listBatchesQuery(ctx context.Context, userID string, f store.BatchFilter, p store.Page) (string, []any, error) {
	if f.Project != "" {
		return listBatchesSQL(userID, f, p)
	}
	projects, mergeable, err := s.visibleProjects(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	if !mergeable {
		return listBatchesSQL(userID, f, p)
	}
	return mergedBatchesSQL(userID, projects, f, p)
}

// mergedBatchesSQL is the merged list: one newest-first read of at most a
// page (and one) per source, merged in the same order and cut to the page.
func mergedBatchesSQL(userID string, projects []string, f store.BatchFilter, p store.Page) (string, []any, error) {
	var parts []string
	var args []any
	add := func(conds []string, condArgs []any) error {
		q := pageQuery{table: "b"}
		for i, c := range conds {
			q.and(c, condArgs[i])
		}
		if f.Host != "" {
			q.and("LOWER(b.host) = LOWER(?)", f.Host)
		}
		part, partArgs, err := q.sql(`SELECT `+batchCols+` FROM batches b`, p)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("SELECT * FROM (%s) s%d", part, len(parts)))
		args = append(args, partArgs...)
		return nil
	}
	if err := add([]string{"b.owner_id = ?"}, []any{userID}); err != nil {
		return "", nil, err
	}
	for _, project := range projects {
		// The user's own batches in the project came with the first read.
		if err := add([]string{"b.project = ?", "b.owner_id <> ?"}, []any{project, userID}); err != nil {
			return "", nil, err
		}
	}
	query := strings.Join(parts, " UNION ALL ") + " ORDER BY created_at DESC, id DESC LIMIT ?"
	return query, append(args, p.Limit+1), nil
}
