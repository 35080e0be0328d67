// Package sqlite is argus-server's embedded storage engine: one file on
// disk, nothing to install, using the pure-Go modernc.org/sqlite driver (no
// cgo). It only opens the file, sets the connection up (WAL, busy timeout,
// foreign keys, IMMEDIATE write transactions) and says how SQLite spells
// things; the queries, transactions and migrations are shared with the other
// SQL engines in server/store/sqlstore.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlstore"
)

// maxConns bounds the pool. WAL lets readers run beside the one writer,
// so a few connections help; writers queue on SQLite's lock whatever the
// pool size, so more would only add waiting.
const maxConns = 8

// connParams are applied by the driver to every new connection.
//   - busy_timeout: wait up to 5s for the write lock instead of failing
//     with SQLITE_BUSY at once.
//   - journal_mode WAL: readers do not block the writer, nor it them.
//   - synchronous NORMAL: in WAL mode a commit survives a process crash;
//     only a power cut can lose the last commits, and it never corrupts.
//   - _txlock=immediate: every transaction takes the write lock when it
//     begins. A deferred transaction that reads and then writes can fail
//     with SQLITE_BUSY when another writer got in between, and the busy
//     timeout cannot help it; taking the lock up front avoids that.
const connParams = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

// Memory is the path of a private in-memory database, for tests and demos.
// It lives as long as the Store and is never shared with another one.
const Memory = ":memory:"

// Open opens the SQLite database at path, creating the file if it is
// missing, and brings its schema up to date. Errors read
// "open database <path>: ...".
func Open(ctx context.Context, path string) (store.Store, error) {
	s, err := open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

func open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if path != Memory {
		if err := privateFile(path); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if path == Memory {
		// Every connection to ":memory:" is a database of its own.
		db.SetMaxOpenConns(1)
	}
	return sqlstore.New(ctx, db, Dialect())
}

func dsn(path string) string { return path + "?" + connParams }

// checkPath catches what SQLite would report as a bare "unable to open
// database file": a missing or read-only directory (WAL needs to create
// files beside the database), a directory where the file should be.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("no path given")
	case path == Memory:
		return nil
	case strings.HasPrefix(path, "file:"):
		return errors.New("give a file path, not a file: URI")
	case strings.Contains(path, "?"):
		return errors.New("path must not contain '?'")
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return errors.New("is a directory, not a database file")
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("file is not writable: %w", err)
		}
		f.Close()
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := checkDirPrivate(dir, fi); err != nil {
		return err
	}
	probe, err := os.CreateTemp(dir, ".argus-write-check-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// Dialect is how SQLite spells what differs between SQL engines. Row locks
// are empty: with _txlock=immediate a transaction already excludes every
// other writer from its first statement.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:                  "sqlite",
		Int64:                 "INTEGER",
		Bool:                  "INTEGER",
		JSON:                  "TEXT",
		Blob:                  "BLOB",
		IsUniqueViolation:     hasCode(sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY),
		IsForeignKeyViolation: hasCode(sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY),
		IsUnwritable:          hasPrimaryCode(sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR),
	}
}

// hasPrimaryCode matches driver errors whose result code, extended or not,
// is one of codes (the low byte of an extended code is its primary code:
// SQLITE_IOERR_WRITE is an SQLITE_IOERR).
func hasPrimaryCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && slices.Contains(codes, e.Code()&0xff)
	}
}

// hasCode matches driver errors carrying one of the extended result codes.
func hasCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code() == c {
				return true
			}
		}
		return false
	}
}
