package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/argus-exec/argus/server/store"
)

// Paged lists are keyset-paginated: newest first by (created_at, id), and
// a page resumes strictly below the key of the last item the caller saw.
// Every paged list has an index on its filter columns followed by
// (created_at, id) (migration 5), so a page is a bounded range read of an
// index in its own order: no OFFSET, no sort of the whole result.

// pageQuery holds a list query's WHERE clause and arguments while it is
// built; table is the alias of the table the list is of.
type pageQuery struct {
	table string
	where []string
	args  []any
}

// and adds one condition with its arguments.
func (q *pageQuery) and(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// sql finishes the query: the keyset condition, the order and the limit
// (one more row than the page, to learn whether another page follows). The
// keyset condition is written as a range on created_at (which every
// engine can seek in an index) refined by the tie-break on id, rather than
// as a row-value comparison not every planner turns into an index range.
func (q *pageQuery) sql(sel string, p store.Page) (string, []any, error) {
	if p.Limit < 1 {
		return "", nil, errors.New("page limit must be at least 1")
	}
	t := q.table
	if p.After != nil {
		at := dbTime(p.After.CreatedAt)
		q.and(fmt.Sprintf("%[1]s.created_at <= ? AND (%[1]s.created_at < ? OR %[1]s.id < ?)", t), at, at, p.After.ID)
	}
	query := sel
	if len(q.where) > 0 {
		query += " WHERE " + strings.Join(q.where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY %[1]s.created_at DESC, %[1]s.id DESC LIMIT ?", t)
	return query, append(q.args, p.Limit+1), nil
}

// cut trims the extra row sql asked for and says whether it was there.
// listPage runs a paged list's query, built (with buildErr) by one of the
// list*SQL builders that HotQueries shares, and cuts the page: what every
// paged list does after building its SQL. what names the list in errors.
func listPage[T keyed](ctx context.Context, s *Store, what, query string, args []any, buildErr error, scan func(row) (T, error), p store.Page) ([]T, bool, error) {
	if buildErr != nil {
		return nil, false, fmt.Errorf("%s: %w", what, buildErr)
	}
	rows, err := s.pool().query(ctx, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	items, err := collect(rows, scan)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	items, more := cut(uniq(items), p)
	return items, more, nil
}

// keyed is an item of a paged list.
type keyed interface{ Key() store.Key }

// uniq drops an item that repeats the one before it: a merged list
// (visible_lists.go) reads an item twice when two of its sources hold it.
func uniq[T keyed](items []T) []T {
	return slices.CompactFunc(items, func(a, b T) bool { return a.Key().ID == b.Key().ID })
}

func cut[T any](items []T, p store.Page) ([]T, bool) {
	if len(items) > p.Limit {
		return items[:p.Limit], true
	}
	return items, false
}
