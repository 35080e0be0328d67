// Package postgres is argus-server's storage engine for deployments that run
// several server replicas behind a load balancer: every replica opens the
// same PostgreSQL database and serves every route. It opens the connection
// pool (pgx through database/sql), says how PostgreSQL spells things (the
// Dialect) and keeps passwords out of error messages; the queries,
// transactions and migrations are shared with SQLite in server/store/sqlstore.
//
// The wake-up of long-polls held on other replicas is not here: it is the
// LISTEN/NOTIFY Waker in server/pgwake.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlstore"
)

// maxConns bounds each replica's pool. Unlike SQLite, writers run in
// parallel on row locks, so a pool helps; PostgreSQL's default of 100
// connections must still cover every replica, hence a modest number.
const maxConns = 16

// connectTimeout bounds the first connection when neither ctx nor the DSN
// (connect_timeout) does, so a black-holed host fails startup instead of
// hanging it.
const connectTimeout = 10 * time.Second

// IsDSN reports whether s names a PostgreSQL database rather than a file.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database dsn names (postgres://user:pass@host/db?…;
// search_path=… selects a schema) and brings its schema up to date. Several
// replicas may Open the same database at once: migrations take an advisory
// lock. Errors are one line, "open database <dsn without password>: …".
func Open(ctx context.Context, dsn string) (store.Store, error) {
	s, err := open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), Clean(err, dsn))
	}
	return s, nil
}

func open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	cfg, err := ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	// Every connection may stay idle: with fewer, a burst's extra
	// connections were closed as soon as it passed and opened again at the
	// next (a new PostgreSQL backend each, measured by argus-bench fleet).
	// A quiet server gives them back after a while instead.
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// Recycle connections now and then so a failover or a load balancer in
	// front of PostgreSQL (pgbouncer, a VIP) spreads them again.
	db.SetConnMaxLifetime(30 * time.Minute)
	pctx, cancel := withDefaultTimeout(ctx, cfg)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(ctx, db, Dialect())
}

// ParseConfig parses dsn for pgx, with errors that never hold the password.
func ParseConfig(dsn string) (*pgx.ConnConfig, error) {
	if !IsDSN(dsn) {
		return nil, errors.New("not a postgres:// or postgresql:// URL")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, Clean(err, dsn)
	}
	return cfg, nil
}

func withDefaultTimeout(ctx context.Context, cfg *pgx.ConnConfig) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || cfg.ConnectTimeout > 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, connectTimeout)
}

// Dialect is how PostgreSQL spells what differs between SQL engines.
// Transactions run at READ COMMITTED, so every read that a transaction
// goes on to change takes a row lock, and claims skip rows another
// replica is claiming (SKIP LOCKED) rather than queue behind it. The lock
// is FOR NO KEY UPDATE, the one an UPDATE of non-key columns takes: no
// transaction here changes a key or deletes a locked row, and FOR UPDATE
// would also stall every insert whose foreign key names the row (a run's
// insert behind a flush of its agent's heartbeat, say).
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:        "postgres",
		Placeholder: sqlstore.DollarPlaceholder,
		Int64:       "BIGINT",
		Bool:        "BOOLEAN",
		// TEXT, not JSONB: the store reads JSON back byte for byte and
		// never queries inside it, so JSONB's parsing would buy nothing.
		JSON:       "TEXT",
		Blob:       "BYTEA",
		UTF8Bytes:  "convert_to(%s, 'UTF8')",
		JSONField:  "(CAST(%s AS JSON) ->> '%s')",
		ForUpdate:  " FOR NO KEY UPDATE",
		SkipLocked: " FOR NO KEY UPDATE SKIP LOCKED",
		// Keyed on the schema, so replicas sharing a schema migrate one
		// at a time while deployments (and tests) in other schemas of the
		// same database do not wait for each other.
		MigrationLock:         `SELECT pg_advisory_xact_lock(hashtext('argus-migrate:' || COALESCE(current_schema(), '')))`,
		IsUniqueViolation:     hasCode("23505"),
		IsForeignKeyViolation: hasCode("23503"),
		IsUnwritable:          unwritable,
	}
}

// unwritable matches the SQLSTATEs of a database that cannot be written
// now: class 53, insufficient resources (53100 disk_full, out of memory,
// too many connections); class 58, system errors (58030 io_error); 25006,
// a read-only transaction (a standby, or default_transaction_read_only);
// 57P03, cannot connect now (starting up, shutting down, in recovery).
func unwritable(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	return strings.HasPrefix(e.Code, "53") || strings.HasPrefix(e.Code, "58") || e.Code == "25006" || e.Code == "57P03"
}

// hasCode matches server errors carrying the SQLSTATE code.
func hasCode(code string) func(error) bool {
	return func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == code
	}
}

var (
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&]+)`)
	// The password runs from the ':' after the user to the '@': it may
	// hold '/' (generated passwords often do), which is also what makes
	// url.Parse fail and send such a DSN down this path.
	urlPassword = regexp.MustCompile(`(://[^:/@]*:)[^@?]*@`)
)

// Redact hides the password of a URL or key=value DSN, for messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	// Not a URL that parses (a bad port, say): redact by pattern.
	return kvPassword.ReplaceAllString(urlPassword.ReplaceAllString(dsn, "${1}xxxxx@"), "${1}xxxxx")
}

// Clean makes a driver error fit one log line and strips dsn's password
// from it, should the driver ever quote it.
func Clean(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if pw := password(dsn); len(pw) >= 3 { // shorter would mangle the message
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	if msg == err.Error() {
		return err // keep the chain for errors.Is / As
	}
	return errors.New(msg)
}

func password(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		if m := urlPassword.FindStringSubmatch(dsn); m != nil {
			return strings.TrimSuffix(strings.TrimPrefix(m[0], m[1]), "@")
		}
		return ""
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	return u.Query().Get("password")
}
