package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
)

const batchCols = `b.id, b.owner_id, b.project, b.name, b.snapshot, b.created_at`

// visibleBatch is the condition under which user ? (bound three times) may
// see batch b: they own it, own its project, or are a recipient of it.
const visibleBatch = `(b.owner_id = ?
	OR EXISTS (SELECT 1 FROM projects p WHERE p.name = b.project AND p.owner_id = ?)
	OR EXISTS (SELECT 1 FROM project_recipients pr WHERE pr.project = b.project AND pr.user_id = ?))`

func scanBatch(r row) (store.Batch, error) {
	var b store.Batch
	var snap string
	var created int64
	if err := r.Scan(&b.ID, &b.OwnerID, &b.Project, &b.Name, &snap, &created); err != nil {
		return store.Batch{}, err
	}
	if err := json.Unmarshal([]byte(snap), &b.Snapshot); err != nil {
		return store.Batch{}, fmt.Errorf("batch %q snapshot: %w", b.ID, err)
	}
	b.CreatedAt = goTime(created)
	return b, nil
}

// CreateBatch stores b, creating its project (owned by b's owner) if
// needed. A project owned by someone else takes batches only from its
// recipients; otherwise ErrForbidden and nothing is written.
func (s *Store) CreateBatch(ctx context.Context, b store.Batch) error {
	snap, err := json.Marshal(b.Snapshot)
	if err != nil {
		return fmt.Errorf("batch snapshot: %w", err)
	}
	err = s.inTx(ctx, func(c conn) error {
		if err := claimProject(ctx, c, b.Project, b.OwnerID, b.CreatedAt); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO batches
			(id, owner_id, project, name, snapshot, host, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.OwnerID, b.Project, b.Name, string(snap), b.Snapshot.Host, dbTime(b.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create batch %q: %w", b.ID, err)
	}
	return nil
}

// claimProject makes sure userID may write to project, creating it for
// them when it is new. ON CONFLICT DO NOTHING lets two first batches of one
// project race without either failing.
func claimProject(ctx context.Context, c conn, project, userID string, at time.Time) error {
	_, err := c.exec(ctx, `INSERT INTO projects (name, owner_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, project, userID, dbTime(at))
	if err != nil {
		return err
	}
	var owner string
	err = c.row(ctx, `SELECT owner_id FROM projects WHERE name = ?`+c.s.d.ForUpdate, project).Scan(&owner)
	if err != nil {
		return err
	}
	if owner == userID {
		return nil
	}
	var n int
	err = c.row(ctx, `SELECT COUNT(*) FROM project_recipients WHERE project = ? AND user_id = ?`,
		project, userID).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("project %q belongs to another user: %w", project, store.ErrForbidden)
	}
	return nil
}

const batchByIDSQL = `SELECT ` + batchCols + ` FROM batches b WHERE b.id = ?`

// Batch finds a batch by id.
func (s *Store) Batch(ctx context.Context, id string) (store.Batch, error) {
	b, err := scanBatch(s.pool().row(ctx, batchByIDSQL, id))
	return b, notFound(err, "batch", id)
}

// ListBatches returns one page of the batches userID may see, newest
// first.
func (s *Store) ListBatches(ctx context.Context, userID string, f store.BatchFilter, p store.Page) ([]store.Batch, bool, error) {
	query, args, err := s.listBatchesQuery(ctx, userID, f, p)
	return listPage(ctx, s, "list batches", query, args, err, scanBatch, p)
}

// projectOwnerSQL and projectRecipientsSQL are what a rerun or stop of a
// batch the caller does not own reads to decide whether they may.
const (
	projectOwnerSQL      = `SELECT owner_id FROM projects WHERE name = ?`
	projectRecipientsSQL = `SELECT user_id FROM project_recipients
		WHERE project = ? ORDER BY created_at, user_id`
)

// listBatchesSQL is ListBatches' query and arguments as one condition,
// for a list narrowed to a project or a user who sees many
// (visible_lists.go).
func listBatchesSQL(userID string, f store.BatchFilter, p store.Page) (string, []any, error) {
	q := pageQuery{table: "b"}
	q.and(visibleBatch, userID, userID, userID)
	if f.Project != "" {
		q.and("b.project = ?", f.Project)
	}
	if f.Host != "" {
		q.and("LOWER(b.host) = LOWER(?)", f.Host)
	}
	return q.sql(`SELECT `+batchCols+` FROM batches b`, p)
}

// Project finds a project and its recipients, in the order they were added.
func (s *Store) Project(ctx context.Context, name string) (store.Project, error) {
	p := store.Project{Name: name, RecipientIDs: []string{}}
	err := s.pool().row(ctx, projectOwnerSQL, name).Scan(&p.OwnerID)
	if err != nil {
		return store.Project{}, notFound(err, "project", name)
	}
	rows, err := s.pool().query(ctx, projectRecipientsSQL, name)
	if err != nil {
		return store.Project{}, fmt.Errorf("project recipients: %w", err)
	}
	ids, err := collect(rows, func(r row) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return store.Project{}, err
	}
	p.RecipientIDs = append(p.RecipientIDs, ids...)
	return p, nil
}

// lockProject locks a project's row for the transaction, so its recipients
// change one writer at a time; ErrNotFound for an unknown project.
func lockProject(ctx context.Context, c conn, project string) error {
	var owner string
	err := c.row(ctx, `SELECT owner_id FROM projects WHERE name = ?`+c.s.d.ForUpdate, project).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("project %q: %w", project, store.ErrNotFound)
	}
	return err
}

// AddRecipient shares project with userID; sharing twice is a no-op.
// ErrNotFound when the project (or the user) does not exist.
func (s *Store) AddRecipient(ctx context.Context, project, userID string) error {
	err := s.inTx(ctx, func(c conn) error {
		if err := lockProject(ctx, c, project); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO project_recipients (project, user_id, created_at)
			VALUES (?, ?, ?) ON CONFLICT (project, user_id) DO NOTHING`,
			project, userID, dbTime(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("add recipient: %w", err)
	}
	return nil
}

// RemoveRecipient unshares project with userID. ErrNotFound when the
// project does not exist or userID is not one of its recipients.
func (s *Store) RemoveRecipient(ctx context.Context, project, userID string) error {
	err := s.inTx(ctx, func(c conn) error {
		if err := lockProject(ctx, c, project); err != nil {
			return err
		}
		res, err := c.exec(ctx, `DELETE FROM project_recipients WHERE project = ? AND user_id = ?`,
			project, userID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("user %q is not a recipient of project %q: %w", userID, project, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove recipient: %w", err)
	}
	return nil
}
