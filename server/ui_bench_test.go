package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/store/sqlite"
)

// BenchmarkHomePage renders the home page of a user with 10,000 batches
// and 50,000 runs (five each, all ended: one in three failed) through the
// handler, session and all, and reports the page's weight: the targets
// are under 50 ms a page and under 200 KB. BENCHMARKS.md has the figures.
//
//	go test -run '^$' -bench BenchmarkHomePage -benchtime 50x ./server
func BenchmarkHomePage(b *testing.B) {
	const batches, runsPerBatch = 10000, 5
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "argus.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv := server.New(server.Config{}, st, nil)
	tok, err := server.CreateUser(ctx, st, "alice")
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{b: b, h: srv.Handler(), userTok: tok}
	e.serve(http.StatusCreated, "POST", "/api/agents/register", tok,
		map[string]string{"hostname": "gpu-01", "os": "linux", "arch": "amd64", "version": "bench"})
	seedHome(b, path, batches, runsPerBatch)

	cookie := benchLogin(b, e.h, tok)
	var size int
	for b.Loop() {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /: %d %s", rec.Code, rec.Body)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB/page")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
}

// seedHome writes the batches and runs straight into the database, in
// one statement each: through the API they would take minutes to record.
func seedHome(b *testing.B, path string, batches, runsPerBatch int) {
	b.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMicro()
	snapshot := `{"command":["python","train.py","--lr","0.1","--epochs","90"],"cwd":"/home/alice/exp","host":"gpu-01","env":{"SEED":"7"}}`
	for _, q := range []string{
		`INSERT INTO projects (name, owner_id, created_at) SELECT 'vision', id, 0 FROM users WHERE name = 'alice'`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		 INSERT INTO batches (id, owner_id, project, name, snapshot, host, created_at)
		 SELECT printf('bat_%020d', i), (SELECT id FROM users WHERE name = 'alice'), 'vision',
		   printf('resnet-%d', i), ?, 'gpu-01', ? - (? - i) * 60000000 FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
		 INSERT INTO runs (id, batch_id, agent_id, status, pid, exit_code, output_tail, created_at, started_at, ended_at, requested_by,
		   batch_owner_id, batch_project)
		 SELECT printf('run_%020d', i), printf('bat_%020d', i / ? + 1), (SELECT id FROM agents LIMIT 1),
		   'exited', 1000 + i, i % 3,
		   'epoch 90/90 loss=0.0123', ? - (? - i) * 12000000, ? - (? - i) * 12000000, ? - (? - i) * 12000000 + 3600000000, 'alice',
		   (SELECT id FROM users WHERE name = 'alice'), 'vision' FROM n`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "INSERT INTO batches"):
			args = []any{batches, snapshot, now, batches}
		case strings.Contains(q, "INSERT INTO runs"):
			total := batches * runsPerBatch
			args = []any{total, runsPerBatch, now, total, now, total, now, total}
		}
		if _, err := db.Exec(q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}

// benchLogin signs in through the form and returns the session cookie.
func benchLogin(b *testing.B, h http.Handler, tok string) *http.Cookie {
	b.Helper()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "argus_session" {
			return c
		}
	}
	b.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	return nil
}
