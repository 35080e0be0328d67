package sqlstore

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Dialect is everything that differs between the SQL engines the Store runs
// on. Queries are written once with "?" placeholders and portable SQL
// (ON CONFLICT DO NOTHING, LIMIT, COALESCE); the Dialect fills in the rest.
// Each engine package builds its own Dialect next to its driver import, so
// this package never depends on a driver.
type Dialect struct {
	// Name appears in error messages.
	Name string
	// Placeholder renders the n-th (1-based) bind parameter. Nil means
	// "?" everywhere, which is what SQLite wants.
	Placeholder func(n int) string

	// Column types substituted into the migration DDL ({{int64}},
	// {{bool}}, {{json}}, {{blob}}). Times are stored as {{int64}} Unix
	// microseconds so both engines compare and sort them the same way.
	Int64, Bool, JSON, Blob string
	// UTF8Bytes is a format (one %s: a TEXT expression) for the SQL that
	// turns text into its UTF-8 bytes as a {{blob}}, for migrations that
	// move text into a byte column ({{utf8_bytes COLUMN}}). PostgreSQL
	// needs convert_to: a plain cast to BYTEA would read backslashes as
	// escapes. Empty means SQLite's CAST(%s AS BLOB).
	UTF8Bytes string
	// JSONField is a format (two %s: a TEXT column of JSON objects, a key)
	// for the SQL that reads one string field of it ({{json_field COLUMN
	// KEY}}), for migrations that copy a field into a column of its own.
	// Empty means SQLite's json_extract(%s, '$.%s').
	JSONField string

	// ForUpdate is appended to a SELECT whose rows the transaction is
	// about to change. SQLite leaves it empty: its write transactions
	// begin IMMEDIATE and so already exclude every other writer.
	// PostgreSQL wants a row lock (" FOR NO KEY UPDATE").
	ForUpdate string
	// SkipLocked is appended to the SELECT that claims commands, so that
	// concurrent claimers take different rows instead of queueing on the
	// same ones (" FOR NO KEY UPDATE SKIP LOCKED" in PostgreSQL).
	SkipLocked string
	// MigrationLock, when set, runs first in every migration transaction
	// so that replicas starting together apply each migration once (a
	// pg_advisory_xact_lock call, say). SQLite needs none.
	MigrationLock string

	// IsUniqueViolation and IsForeignKeyViolation classify driver errors
	// so that the Store can answer store.ErrExists and store.ErrNotFound.
	// Either may be nil, and then no error is so classified.
	IsUniqueViolation     func(error) bool
	IsForeignKeyViolation func(error) bool
	// IsUnwritable says a driver error means the database cannot be
	// written now: its disk is full, it is read-only, or it is out of
	// some resource (Store.Unwritable). Nil: no error is.
	IsUnwritable func(error) bool
}

// DollarPlaceholder renders PostgreSQL's "$1", "$2", ... placeholders.
func DollarPlaceholder(n int) string { return "$" + strconv.Itoa(n) }

// rebind rewrites the "?" placeholders of a query into the dialect's style.
// Question marks inside single-quoted literals are left alone.
func (d Dialect) rebind(query string) string {
	if d.Placeholder == nil {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, inQuote := 0, false
	for _, r := range query {
		switch {
		case r == '\'':
			inQuote = !inQuote
		case r == '?' && !inQuote:
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// utf8BytesSlot is {{utf8_bytes COLUMN}} in migration DDL.
var utf8BytesSlot = regexp.MustCompile(`\{\{utf8_bytes ([a-z_]+)\}\}`)

// jsonFieldSlot is {{json_field COLUMN KEY}} in migration DDL.
var jsonFieldSlot = regexp.MustCompile(`\{\{json_field ([a-z_]+) ([a-z_]+)\}\}`)

// ddl fills the type slots of a migration statement.
func (d Dialect) ddl(stmt string) string {
	stmt = jsonFieldSlot.ReplaceAllStringFunc(stmt, func(slot string) string {
		m := jsonFieldSlot.FindStringSubmatch(slot)
		return fmt.Sprintf(orDefault(d.JSONField, "json_extract(%s, '$.%s')"), m[1], m[2])
	})
	stmt = utf8BytesSlot.ReplaceAllStringFunc(stmt, func(slot string) string {
		return fmt.Sprintf(orDefault(d.UTF8Bytes, "CAST(%s AS BLOB)"), utf8BytesSlot.FindStringSubmatch(slot)[1])
	})
	return strings.NewReplacer(
		"{{int64}}", orDefault(d.Int64, "BIGINT"),
		"{{bool}}", orDefault(d.Bool, "BOOLEAN"),
		"{{json}}", orDefault(d.JSON, "TEXT"),
		"{{blob}}", orDefault(d.Blob, "BLOB"),
	).Replace(stmt)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
