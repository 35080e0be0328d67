package server_test

// Fuzz tests of every route that decodes a JSON body, through the real
// handler stack over a real SQLite file. Whatever the body and its
// Content-Type, the server must not panic, must answer 2xx or 4xx (never
// 5xx), must answer a 4xx with a JSON error, and must store nothing on a
// 4xx. The seed corpus is in testdata/fuzz/<FuzzName>/; .ci/run fuzzes
// each target briefly.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store/sqlite"
)

// fuzzEnv is a server driven through its Handler (no sockets: fuzzing
// wants speed) with a user alice (who also knows bob), her online agent,
// a batch, a running run and a delivered, unacked rerun.
type fuzzEnv struct {
	h                        *harness // its snapshot and unchanged; h.t is set per input
	handler                  http.Handler
	alice, agentID, agentTok string
	batchID                  string
	running, pending         api.Queued
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(f.TempDir(), "argus.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv := server.New(server.Config{}, st, nil)
	e := &fuzzEnv{h: &harness{dbPath: dbPath, store: st}, handler: srv.Handler()}
	if e.alice, err = server.CreateUser(ctx, st, "alice"); err != nil {
		f.Fatal(err)
	}
	if _, err = server.CreateUser(ctx, st, "bob"); err != nil {
		f.Fatal(err)
	}
	var reg api.RegisterResponse
	e.setup(f, 201, "POST", "/api/agents/register", e.alice, api.RegisterRequest{Hostname: "gpu-01"}, &reg)
	e.agentID, e.agentTok = reg.AgentID, reg.Token
	e.setup(f, 204, "POST", e.agentPath("heartbeat"), e.agentTok, nil, nil)
	var c api.Created
	e.setup(f, 201, "POST", "/api/batches", e.alice, goodBatch(), &c)
	e.batchID = c.ID
	e.setup(f, 202, "POST", "/api/batches/"+c.ID+"/rerun", e.alice, nil, &e.running)
	e.setup(f, 200, "GET", e.agentPath("jobs"), e.agentTok, nil, nil)
	e.setup(f, 200, "POST", e.agentPath("jobs/"+e.running.CmdID+"/ack"), e.agentTok, api.AckRequest{PID: 42}, nil)
	e.setup(f, 202, "POST", "/api/batches/"+c.ID+"/rerun", e.alice, nil, &e.pending)
	e.setup(f, 200, "GET", e.agentPath("jobs"), e.agentTok, nil, nil)
	return e
}

func (e *fuzzEnv) agentPath(rest string) string { return "/api/agents/" + e.agentID + "/" + rest }

func (e *fuzzEnv) send(method, path, tok, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// setup sends a request the environment needs and decodes its answer.
func (e *fuzzEnv) setup(f *testing.F, want int, method, path, tok string, in, out any) {
	f.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			f.Fatal(err)
		}
	}
	rec := e.send(method, path, tok, "application/json", body)
	if rec.Code != want {
		f.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			f.Fatal(err)
		}
	}
}

// check sends one fuzzed body and holds the answer to the rules every
// route shares; it returns the answer for route-specific checks.
func (e *fuzzEnv) check(t *testing.T, path, tok string, body []byte, contentType string) *httptest.ResponseRecorder {
	t.Helper()
	e.h.t = t
	before := e.h.snapshot()
	rec := e.send("POST", path, tok, contentType, body)
	switch {
	case rec.Code >= 500 || rec.Code < 200:
		t.Fatalf("POST %s %q (%s): answered %d %s", path, body, contentType, rec.Code, rec.Body)
	case rec.Code >= 400:
		var msg api.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg.Error == "" {
			t.Fatalf("POST %s: %d answer %q is not a JSON error", path, rec.Code, rec.Body)
		}
		e.h.unchanged(before, "a refused POST "+path)
	}
	return rec
}

func FuzzCreateBatch(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		rec := e.check(t, "/api/batches", e.alice, body, contentType)
		if rec.Code != http.StatusCreated {
			return
		}
		var c api.Created
		var b api.Batch
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		got := e.send("GET", "/api/batches/"+c.ID, e.alice, "", nil)
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
		e.check(t, "/api/batches/"+e.batchID+"/rerun", e.alice, body, contentType)
	})
}

func FuzzStop(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		e.check(t, "/api/runs/"+e.running.RunID+"/stop", e.alice, body, contentType)
	})
}

func FuzzShare(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		e.check(t, "/api/projects/mnist/recipients", e.alice, body, contentType)
	})
}

func FuzzRegister(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		e.check(t, "/api/agents/register", e.alice, body, contentType)
	})
}

// A heartbeat has no body: whatever is sent along is ignored, never read.
func FuzzHeartbeat(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if rec := e.check(t, e.agentPath("heartbeat"), e.agentTok, body, contentType); rec.Code != http.StatusNoContent {
			t.Fatalf("heartbeat with body %q: %d %s, want 204", body, rec.Code, rec.Body)
		}
	})
}

func FuzzAck(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		rec := e.check(t, e.agentPath("jobs/"+e.pending.CmdID+"/ack"), e.agentTok, body, contentType)
		var ack api.Ack
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &ack) == nil &&
			(ack.Ack.PID < 0 || ack.Ack.PID > api.MaxPID || len(ack.Ack.Error) > api.MaxAckError) {
			t.Fatalf("stored an ack out of its limits: %+v", ack.Ack)
		}
	})
}

func FuzzExit(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		rec := e.check(t, e.agentPath("runs/"+e.running.RunID+"/exit"), e.agentTok, body, contentType)
		var run api.Run
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &run) == nil &&
			(len(run.Signal) > api.MaxSignal || len(run.OutputTail) > api.MaxOutputTail) {
			t.Fatalf("stored an exit out of its limits: signal %q, %d-byte tail", run.Signal, len(run.OutputTail))
		}
	})
}
