// Package sqlstore is the one database/sql implementation of store.Store,
// shared by every SQL engine. It holds the queries, the transactions that
// make each state change atomic, and the versioned schema migrations.
//
// What differs between engines (placeholder style, column types, row
// locking, error codes) is described by a Dialect, which each engine package
// builds next to its driver import. Opening files or connections, DSNs,
// pragmas and pool sizes are not here: they belong to the engine packages
// (server/store/sqlite, server/store/postgres).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// Store implements store.Store on a *sql.DB.
type Store struct {
	db *sql.DB
	d  Dialect

	// stmts caches prepared statements by their "?" query text: agents
	// heartbeat and authenticate on every request, and re-parsing those
	// queries each time would be the largest cost of a heartbeat.
	stmts     sync.Map // string -> *sql.Stmt
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// New checks that db answers, migrates it to the current schema and
// returns a Store that owns db: Close closes it, and so does New when it
// fails, so engines need no clean-up of their own.
func New(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := Migrate(ctx, db, d, Migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s schema: %w", d.Name, err)
	}
	return &Store{db: db, d: d}, nil
}

// DB is the underlying handle, for engine packages and tests that need to
// look below the Store interface.
func (s *Store) DB() *sql.DB { return s.db }

// Close releases the prepared statements and closes the database. Closing
// twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stmts.Range(func(_, v any) bool {
			v.(*sql.Stmt).Close()
			return true
		})
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Ping runs the cheapest query the database itself must answer. A pool
// ping alone can succeed on an idle connection without reaching the
// database file or server.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool().row(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.Name, err)
	}
	return nil
}

// ProbeWrite rewrites the one row of write_probe: a real write, for
// /healthz to learn that the database can be written.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if _, err := s.pool().exec(ctx, `UPDATE write_probe SET at = ? WHERE id = 1`, dbTime(time.Now())); err != nil {
		return fmt.Errorf("write probe on %s: %w", s.d.Name, err)
	}
	return nil
}

// Unwritable says err means the database cannot be written now.
func (s *Store) Unwritable(err error) bool {
	return err != nil && s.d.IsUnwritable != nil && s.d.IsUnwritable(err)
}

// prepared returns the cached statement for query, preparing it once.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// conn runs queries through the statement cache, either straight on the
// pool or inside one transaction.
type conn struct {
	s  *Store
	tx *sql.Tx
	// uncached collects the queries a transaction had to prepare itself,
	// for inTx to cache once the transaction has released its connection.
	uncached *[]string
}

func (s *Store) pool() conn { return conn{s: s} }

func (c conn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if c.tx == nil {
		return c.s.prepared(ctx, query)
	}
	if st, ok := c.s.stmts.Load(query); ok {
		return c.tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	// Preparing through the pool here would wait for a second connection
	// while this transaction holds one: with a small pool, concurrent
	// transactions would deadlock. Prepare on the transaction instead.
	*c.uncached = append(*c.uncached, query)
	return c.tx.PrepareContext(ctx, c.s.d.rebind(query))
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args...)
	return res, c.s.classify(err)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row is one result row, or the error that prevented running the query.
type row interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

func (c conn) row(ctx context.Context, query string, args ...any) row {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// inTx runs fn in one transaction, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var uncached []string
	defer s.cache(ctx, &uncached)
	if err := fn(conn{s: s, tx: tx, uncached: &uncached}); err != nil {
		tx.Rollback() //nolint:errcheck // fn's error is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", s.classify(err))
	}
	return nil
}

// cache prepares on the pool the queries a finished transaction had to
// prepare itself, so the next transaction finds them. It is best effort: a
// query that fails here will be prepared, and fail, where it is used.
func (s *Store) cache(ctx context.Context, queries *[]string) {
	for _, q := range *queries {
		s.prepared(ctx, q) //nolint:errcheck // see above
	}
}

// classify maps constraint violations onto the store's sentinel errors,
// keeping the driver's message for the log.
func (s *Store) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case s.d.IsUniqueViolation != nil && s.d.IsUniqueViolation(err):
		return fmt.Errorf("%w: %v", store.ErrExists, err)
	case s.d.IsForeignKeyViolation != nil && s.d.IsForeignKeyViolation(err):
		return fmt.Errorf("%w: referenced record missing: %v", store.ErrNotFound, err)
	}
	return err
}

// notFound turns sql.ErrNoRows into store.ErrNotFound naming what was
// looked for.
func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
	}
	return err
}

// affected answers ErrNotFound when an UPDATE matched nothing.
func affected(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// Times are stored as Unix microseconds: exact, sortable and the same in
// every engine. Zero times of nullable columns are stored as NULL.

func dbTime(t time.Time) int64 { return t.UnixMicro() }

func dbTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func dbTimeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func goTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

func goTimePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := goTime(v.Int64)
	return &t
}

func goTimeOrZero(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return goTime(v.Int64)
}

// nullIfEmpty stores "" as NULL in columns that reference another table.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// noLimit stands for "no limit" where a caller passes limit <= 0; LIMIT
// takes a bound parameter in every engine, but the way to say "all" differs.
const noLimit = int64(1) << 62

func limitArg(limit int) int64 {
	if limit <= 0 {
		return noLimit
	}
	return int64(limit)
}
