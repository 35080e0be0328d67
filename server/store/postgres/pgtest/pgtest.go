// Package pgtest gives each PostgreSQL test a database of its own: a fresh
// schema in the test database, selected through the DSN's search_path and
// dropped when the test ends, so tests (and packages) run in parallel
// without seeing each other's rows.
//
// The database is ARGUS_TEST_POSTGRES, or DefaultDSN. When it cannot be
// reached the test fails under CI=true (CI has PostgreSQL, so a missing
// one is a broken machine, not a reason to pass) and is skipped elsewhere.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the test database when ARGUS_TEST_POSTGRES is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseDSN is the DSN tests connect to.
func BaseDSN() string {
	if dsn := os.Getenv("ARGUS_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// Schema creates schema argus_test_<random>, drops it (and all in it) when
// t ends, and returns a DSN whose connections use it.
func Schema(t testing.TB) string {
	t.Helper()
	base := BaseDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unreachable(t, err)
	}
	defer conn.Close(context.Background())

	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	schema := "argus_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return WithParam(t, base, "search_path", schema)
}

// WithParam returns dsn with one query parameter set.
func WithParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("ARGUS_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func unreachable(t testing.TB, err error) {
	t.Helper()
	where := BaseDSN()
	if u, perr := url.Parse(where); perr == nil && u.User != nil {
		u.User = url.User(u.User.Username()) // the message must not hold a password
		where = u.String()
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL at %s is unreachable, and CI=true requires it: %v", where, err)
	}
	t.Skipf("PostgreSQL tests skipped: cannot reach %s (set ARGUS_TEST_POSTGRES, or CI=true to fail instead): %v", where, err)
}

// Exec runs one statement on the test database, outside any test schema
// (to kill a backend, say).
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, BaseDSN())
	if err != nil {
		unreachable(t, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
