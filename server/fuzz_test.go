package server_test

// Fuzz tests of every route that decodes a JSON body, through the real
// handler stack over a real SQLite file. Whatever the body and its
// Content-Type, the server must not panic, must answer 2xx or 4xx (never
// 5xx), must answer a 4xx with a JSON error, and must store nothing on a
// 4xx. Before each input the database is put back to one prepared state
// and a new server is built on it, so every input meets the same state:
// the success path of an ack, exit or stop is reachable by every input,
// not only the first one to get there, and a failure replays from its
// saved corpus entry alone. The seed corpus is in
// testdata/fuzz/<FuzzName>/; .ci/run fuzzes each target briefly.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlite"
)

// fuzzEnv is a prepared SQLite file, the template, and the database this
// fuzzing process works on, put back to the template before every input:
// a user alice (who also knows bob), her online agent, a batch in project
// mnist, a running run and a delivered, unacked rerun.
type fuzzEnv struct {
	template                 string
	work                     store.Store
	workPath                 string
	restore                  *sql.DB // one connection to the work file, the template attached
	tables                   []string
	alice, agentID, agentTok string
	batchID                  string
	running, pending         api.Queued
}

// fuzzServer is one input's server: a new one for every input, so nothing
// an earlier input left in memory (buffered heartbeats, tokens seen) is
// there either.
type fuzzServer struct {
	*fuzzEnv
	h       *harness // its snapshot and unchanged
	handler http.Handler
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	ctx := context.Background()
	dir := f.TempDir()
	e := &fuzzEnv{template: filepath.Join(dir, "template.db"), workPath: filepath.Join(dir, "argus.db")}
	st, err := sqlite.Open(ctx, e.template)
	if err != nil {
		f.Fatal(err)
	}
	s := &fuzzServer{fuzzEnv: e, handler: server.New(server.Config{}, st, nil).Handler()}
	if e.alice, err = server.CreateUser(ctx, st, "alice"); err != nil {
		f.Fatal(err)
	}
	if _, err = server.CreateUser(ctx, st, "bob"); err != nil {
		f.Fatal(err)
	}
	var reg api.RegisterResponse
	s.setup(f, 201, "POST", "/api/agents/register", e.alice, api.RegisterRequest{Hostname: "gpu-01"}, &reg)
	e.agentID, e.agentTok = reg.AgentID, reg.Token
	s.setup(f, 204, "POST", e.agentPath("heartbeat"), e.agentTok, nil, nil)
	var c api.Created
	s.setup(f, 201, "POST", "/api/batches", e.alice, goodBatch(), &c)
	e.batchID = c.ID
	s.setup(f, 202, "POST", "/api/batches/"+c.ID+"/rerun", e.alice, nil, &e.running)
	s.setup(f, 200, "GET", e.agentPath("jobs"), e.agentTok, nil, nil)
	s.setup(f, 200, "POST", e.agentPath("jobs/"+e.running.CmdID+"/ack"), e.agentTok, api.AckRequest{PID: 42}, nil)
	s.setup(f, 202, "POST", "/api/batches/"+c.ID+"/rerun", e.alice, nil, &e.pending)
	s.setup(f, 200, "GET", e.agentPath("jobs"), e.agentTok, nil, nil)
	if err := st.Close(); err != nil {
		f.Fatal(err)
	}

	// Putting rows back is far cheaper than opening a copy of the file
	// for every input (which costs a migration check and new connections).
	if e.work, err = sqlite.Open(ctx, e.workPath); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.work.Close() })
	// Foreign keys off: tables are emptied and refilled in any order.
	if e.restore, err = sql.Open("sqlite", e.workPath+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(0)"); err != nil {
		f.Fatal(err)
	}
	e.restore.SetMaxOpenConns(1)
	f.Cleanup(func() { e.restore.Close() })
	if _, err := e.restore.Exec(`ATTACH DATABASE ? AS tpl`, e.template); err != nil {
		f.Fatal(err)
	}
	if e.tables, err = column(e.restore, `SELECT name FROM tpl.sqlite_master WHERE type = 'table' ORDER BY name`); err != nil {
		f.Fatal(err)
	}
	return e
}

// fresh puts the work database back to the template and gives one input
// its own server on it.
func (e *fuzzEnv) fresh(t *testing.T) *fuzzServer {
	t.Helper()
	tx, err := e.restore.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, table := range e.tables {
		for _, q := range []string{`DELETE FROM main."` + table + `"`, `INSERT INTO main."` + table + `" SELECT * FROM tpl."` + table + `"`} {
			if _, err := tx.Exec(q); err != nil {
				t.Fatalf("restore %s: %v", table, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return &fuzzServer{fuzzEnv: e, h: &harness{t: t, dbPath: e.workPath, store: e.work}, handler: server.New(server.Config{}, e.work, nil).Handler()}
}

func (e *fuzzEnv) agentPath(rest string) string { return "/api/agents/" + e.agentID + "/" + rest }

func (s *fuzzServer) send(method, path, tok, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// setup sends a request the environment needs and decodes its answer.
func (s *fuzzServer) setup(tb testing.TB, want int, method, path, tok string, in, out any) {
	tb.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			tb.Fatal(err)
		}
	}
	rec := s.send(method, path, tok, "application/json", body)
	if rec.Code != want {
		tb.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			tb.Fatal(err)
		}
	}
}

// check sends one fuzzed body and holds the answer to the rules every
// route shares; it returns the answer for route-specific checks.
func (s *fuzzServer) check(t *testing.T, path, tok string, body []byte, contentType string) *httptest.ResponseRecorder {
	t.Helper()
	before := s.h.snapshot()
	rec := s.send("POST", path, tok, contentType, body)
	switch {
	case rec.Code >= 500 || rec.Code < 200:
		t.Fatalf("POST %s %q (%s): answered %d %s", path, body, contentType, rec.Code, rec.Body)
	case rec.Code >= 400:
		var msg api.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg.Error == "" {
			t.Fatalf("POST %s: %d answer %q is not a JSON error", path, rec.Code, rec.Body)
		}
		s.h.unchanged(before, "a refused POST "+path)
	}
	return rec
}

func FuzzCreateBatch(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		s := e.fresh(t)
		rec := s.check(t, "/api/batches", e.alice, body, contentType)
		if rec.Code != http.StatusCreated {
			return
		}
		var c api.Created
		var b api.Batch
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		got := s.send("GET", "/api/batches/"+c.ID, e.alice, "", nil)
		if err := json.Unmarshal(got.Body.Bytes(), &b); err != nil {
			t.Fatalf("GET the new batch: %v (%s)", err, got.Body)
		}
		if why := outsideLimits(b); why != "" {
			t.Fatalf("stored a batch with %s from %q", why, body)
		}
	})
}

// outsideLimits says how a stored batch breaks the field rules, or "".
func outsideLimits(b api.Batch) string {
	s := b.EnvSnapshot
	oneLine := func(v string) bool {
		return !strings.ContainsFunc(v, func(r rune) bool {
			return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
		})
	}
	switch {
	case len(b.Name) > api.MaxBatchName || !oneLine(b.Name):
		return "a bad name"
	case len(s.Host) > api.MaxHost || s.Host == "" || !oneLine(s.Host) || strings.TrimSpace(s.Host) != s.Host:
		return "a bad host"
	case len(s.Cwd) > api.MaxCwd || !oneLine(s.Cwd) || !(strings.HasPrefix(s.Cwd, "/") || strings.Contains(s.Cwd, `\`)):
		return "a bad cwd"
	case len(s.Command.Argv) > api.MaxArgs || len(s.Command.Shell) > api.MaxShell || s.Command.IsZero():
		return "a bad command"
	case len(s.Env) > api.MaxEnvVars:
		return "too many variables"
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || len(k) > api.MaxEnvName || len(v) > api.MaxEnvValue || strings.Contains(v, "\x00") {
			return "a bad variable"
		}
	}
	return ""
}

func FuzzRerun(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		s := e.fresh(t)
		// The template's heartbeat ages out of the online window in a
		// long fuzzing session; a rerun needs the agent online.
		s.setup(t, 204, "POST", e.agentPath("heartbeat"), e.agentTok, nil, nil)
		s.check(t, "/api/batches/"+e.batchID+"/rerun", e.alice, body, contentType)
	})
}

func FuzzStop(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		e.fresh(t).check(t, "/api/runs/"+e.running.RunID+"/stop", e.alice, body, contentType)
	})
}

func FuzzShare(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		e.fresh(t).check(t, "/api/projects/mnist/recipients", e.alice, body, contentType)
	})
}

func FuzzRegister(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		e.fresh(t).check(t, "/api/agents/register", e.alice, body, contentType)
	})
}

// A heartbeat has no body: whatever is sent along is ignored, never read.
func FuzzHeartbeat(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if rec := e.fresh(t).check(t, e.agentPath("heartbeat"), e.agentTok, body, contentType); rec.Code != http.StatusNoContent {
			t.Fatalf("heartbeat with body %q: %d %s, want 204", body, rec.Code, rec.Body)
		}
	})
}

func FuzzAck(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		rec := e.fresh(t).check(t, e.agentPath("jobs/"+e.pending.CmdID+"/ack"), e.agentTok, body, contentType)
		var ack api.Ack
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &ack) == nil &&
			(ack.Ack.PID < 0 || ack.Ack.PID > api.MaxPID || len(ack.Ack.Error) > api.MaxAckError) {
			t.Fatalf("stored an ack out of its limits: %+v", ack.Ack)
		}
		// Every input acks a command nobody has acked: a duplicate means
		// an earlier input's ack is still there.
		if ack.Duplicate {
			t.Fatalf("ack %q answered as a duplicate of an earlier input's", body)
		}
	})
}

func FuzzExit(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		rec := e.fresh(t).check(t, e.agentPath("runs/"+e.running.RunID+"/exit"), e.agentTok, body, contentType)
		var run api.Run
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &run) == nil &&
			(len(run.Signal) > api.MaxSignal || len(run.Output()) > api.MaxOutputTail) {
			t.Fatalf("stored an exit out of its limits: signal %q, %d-byte tail", run.Signal, len(run.Output()))
		}
		// Every input reports the end of a running run: the code stored is
		// this input's, not an earlier one's.
		var rep api.ExitReport
		if rec.Code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
			return
		}
		if rep.ExitCode != nil && !rep.Unknown && (run.ExitCode == nil || int64(*run.ExitCode) != int64(*rep.ExitCode)) {
			t.Fatalf("exit %q answered with another exit code, an earlier input's: %s", body, rec.Body)
		}
		// The output kept is the end of this input's, byte for byte
		// (output_tail_b64 when given: any bytes), at most 3 bytes short
		// of the limit where the cut skipped into a rune.
		sent, kept := rep.Output(), string(run.Output())
		if !strings.HasSuffix(sent, kept) || len(kept) < min(len(sent), api.MaxOutputTail-3) {
			t.Fatalf("exit %q kept output %q, not the end of what it sent", body, kept)
		}
	})
}
