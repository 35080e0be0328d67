package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/postgres/pgtest"
	"github.com/argus-exec/argus/server/store/sqlstore"
	"github.com/argus-exec/argus/server/store/storetest"
	"github.com/argus-exec/argus/token"
	"github.com/jackc/pgx/v5/stdlib"
)

func openDSN(t testing.TB, dsn string) store.Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openDSN(t, pgtest.Schema(t)) })
}

// TestClaimAcrossReplicas claims one agent's commands from two stores (two
// pools, as two replicas have) on one schema: each command goes out once.
func TestClaimAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	const n = 40
	at := time.Now().UTC()
	must(t, a.CreateUser(ctx, store.User{ID: "u-1", Name: "alice", CreatedAt: at}))
	must(t, a.RegisterAgent(ctx, store.Agent{ID: "ag-1", UserID: "u-1", Hostname: "h", CreatedAt: at},
		store.Token{ID: "t-1", Hash: "h-1", Kind: token.Agent, UserID: "u-1", AgentID: "ag-1", CreatedAt: at}))
	must(t, b.CreateBatch(ctx, store.Batch{ID: "b-1", OwnerID: "u-1", Project: "p", Name: "b", CreatedAt: at}))
	for i := range n {
		id := fmt.Sprintf("%03d", i)
		must(t, []store.Store{a, b}[i%2].QueueRerun(ctx,
			store.Run{ID: "r-" + id, BatchID: "b-1", AgentID: "ag-1", CreatedAt: at},
			store.Command{ID: "c-" + id, Kind: api.KindRerun, CreatedAt: at.Add(time.Duration(i))}))
	}

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := []store.Store{a, b}[w%2]
		wg.Go(func() {
			for {
				got, err := s.ClaimCommands(ctx, "ag-1", time.Now(), time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					seen[c.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d distinct commands claimed, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("command %s claimed %d times", id, k)
		}
	}
}

// TestConcurrentMigrations starts several "replicas" on one empty schema at
// once: the advisory lock must let exactly one apply each migration.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	errs := make(chan error, 6)
	for range cap(errs) {
		go func() {
			s, err := Open(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	s := openDSN(t, dsn)
	var n int
	if err := s.(*sqlstore.Store).DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(sqlstore.Migrations()) {
		t.Errorf("%d migrations recorded, want %d", n, len(sqlstore.Migrations()))
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://u:s3cretpw@127.0.0.1:1/test",
		"postgresql://u:s3cretpw@127.0.0.1:1/test?connect_timeout=2",
		"postgres://u@127.0.0.1:1/test?password=s3cretpw",
		"postgres://u:s3cretpw@127.0.0.1:notaport/test",
	} {
		_, err := Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", Redact(dsn))
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cretpw") || strings.Contains(msg, "\n") ||
			!strings.HasPrefix(msg, "open database postgres") {
			t.Errorf("Open error %q: want one line starting 'open database', without the password", msg)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:pw@h/db":            "postgres://u:xxxxx@h/db",
		"postgres://u@h/db?password=pw":   "postgres://u@h/db?password=xxxxx",
		"postgres://h/db":                 "postgres://h/db",
		"host=h user=u password=pw x=y":   "host=h user=u password=xxxxx x=y",
		"host=h password='p w' user=u":    "host=h password=xxxxx user=u",
		"postgresql://u:p%40ss@h:5432/db": "postgresql://u:xxxxx@h:5432/db",
		"postgres://u:pa/ss@h/db":         "postgres://u:xxxxx@h/db", // '/' breaks url.Parse
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestViolationsClassified(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openDSN(t, pgtest.Schema(t))
	u := store.User{ID: "u-1", Name: "alice", CreatedAt: time.Now()}
	must(t, s.CreateUser(ctx, u))
	if err := s.CreateUser(ctx, u); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate user: %v, want ErrExists", err)
	}
	err := s.RegisterAgent(ctx, store.Agent{ID: "ag-1", UserID: "u-nobody", Hostname: "h", CreatedAt: time.Now()},
		store.Token{ID: "t-1", Hash: "h-1", Kind: token.Agent, UserID: "u-nobody", AgentID: "ag-1"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("agent of a missing user: %v, want ErrNotFound", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCleanScrubsAPasswordWithASlash(t *testing.T) {
	t.Parallel()
	dsn := "postgres://u:s3cr/et@h/db"
	err := Clean(errors.New("cannot parse `"+dsn+"`: invalid port"), dsn)
	if strings.Contains(err.Error(), "s3cr/et") {
		t.Fatalf("password left in %q", err)
	}
}

func TestUpgradeOutputToBytes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	cfg, err := ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	storetest.UpgradeOutputToBytes(t, db, Dialect(), func() store.Store { return openDSN(t, dsn) })
}

// TestHotQueriesUseTheirIndexes: every hot path's query (sqlstore.HotQueries)
// can be planned on its index, and reads no table or index whole.
// Sequential scans are turned off for the session: on a test's near-empty
// tables the planner rightly prefers them, and the question is whether the
// indexes serve the query at all. A sequential scan left in the plan then
// means no index could; an index scan with no Index Cond reads the whole
// index, which is no better. Run with -v for the plans.
func TestHotQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	s := openDSN(t, pgtest.Schema(t))
	conn, err := s.(*sqlstore.Store).DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for _, q := range sqlstore.HotQueries() {
		var doc string
		err := conn.QueryRowContext(t.Context(), "EXPLAIN (FORMAT JSON) "+q.Rebind(Dialect()), q.Args...).Scan(&doc)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		var top []struct{ Plan planNode }
		if err := json.Unmarshal([]byte(doc), &top); err != nil || len(top) != 1 {
			t.Fatalf("%s: plan %s: %v", q.Name, doc, err)
		}
		var steps []string
		used, whole := false, []string{}
		top[0].Plan.walk(func(n planNode) {
			if !strings.Contains(n.NodeType, "Scan") {
				return
			}
			step := n.NodeType // a Bitmap Index Scan names no table
			if n.Index != "" {
				step += " using " + n.Index
				used = used || slices.Contains(q.Indexes, n.Index)
			}
			if n.Relation != "" {
				step += " on " + n.Relation
			}
			if n.IndexCond != "" {
				step += " (" + n.IndexCond + ")"
			}
			steps = append(steps, step)
			if n.NodeType == "Seq Scan" || (n.Index != "" && n.IndexCond == "") {
				whole = append(whole, step)
			}
		})
		p := strings.Join(steps, "; ")
		t.Logf("%s: %s", q.Name, p)
		if !used {
			t.Errorf("%s: plan %q uses none of %v", q.Name, p, q.Indexes)
		}
		for _, step := range whole {
			if q.Walk != "" {
				t.Logf("%s: known walk (%s): %s", q.Name, q.Walk, step)
				continue
			}
			t.Errorf("%s: plan %q reads a whole table or index: %s", q.Name, p, step)
		}
	}
}

// planNode is the part of a node of EXPLAIN (FORMAT JSON) the test reads.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// TestAReadOnlyDatabaseIsUnwritable: a write refused because the
// transaction is read-only (a standby, say) is unwritable (the server
// answers 503), a constraint violation is not; the write probe succeeds
// on a writable database.
func TestAReadOnlyDatabaseIsUnwritable(t *testing.T) {
	t.Parallel()
	s := openDSN(t, pgtest.Schema(t))
	if err := s.ProbeWrite(t.Context()); err != nil || s.Unwritable(err) {
		t.Fatalf("write probe on a writable database: %v", err)
	}
	conn, err := s.(*sqlstore.Store).DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, dup := conn.ExecContext(t.Context(), `INSERT INTO write_probe (id, at) VALUES (1, 0)`)
	if dup == nil || s.Unwritable(dup) {
		t.Fatalf("a duplicate key: %v; want an error that is not unwritable", dup)
	}
	if _, err := conn.ExecContext(t.Context(), "SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	_, ro := conn.ExecContext(t.Context(), `UPDATE write_probe SET at = 1 WHERE id = 1`)
	if ro == nil || !s.Unwritable(ro) {
		t.Fatalf("a write in a read-only transaction: %v; want an error the store calls unwritable", ro)
	}
}
