package server_test

// Benchmarks of the agent's hot routes. They drive s.Handler() directly
// with httptest recorders, so they measure the handler stack (routing,
// auth, store, metrics, access log) over a real SQLite file without the
// network; cmd/argus-bench measures the same route over real sockets.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store/sqlite"
)

// benchEnv is one server over a fresh SQLite file with a user and an online
// agent, ready for requests.
type benchEnv struct {
	b        *testing.B
	h        http.Handler
	userTok  string
	agentID  string
	agentTok string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	return newBenchEnvWith(b, server.Config{})
}

func newBenchEnvWith(b *testing.B, cfg server.Config) *benchEnv {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "argus.db"))
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { st.Close() })
	srv := server.New(cfg, st, nil)
	userTok, err := server.CreateUser(ctx, st, "bench")
	if err != nil {
		b.Fatalf("create user: %v", err)
	}
	e := &benchEnv{b: b, h: srv.Handler(), userTok: userTok}
	var reg api.RegisterResponse
	rec := e.serve(http.StatusCreated, "POST", "/api/agents/register", userTok,
		api.RegisterRequest{Hostname: "bench-host", OS: "linux", Arch: "amd64", Version: "bench"})
	if err := json.Unmarshal(rec.Body.Bytes(), &reg); err != nil {
		b.Fatalf("decode register answer %q: %v", rec.Body, err)
	}
	e.agentID, e.agentTok = reg.AgentID, reg.Token
	// Online, so a rerun finds the agent.
	e.serve(http.StatusNoContent, "POST", e.agentPath("heartbeat"), e.agentTok, nil)
	return e
}

func (e *benchEnv) agentPath(rest string) string {
	return "/api/agents/" + e.agentID + "/" + rest
}

// serve sends one request through the handler and fails the benchmark
// unless the status is want, so a broken route cannot post a fast time.
func (e *benchEnv) serve(want int, method, path, tok string, body any) *httptest.ResponseRecorder {
	rec, err := e.try(want, method, path, tok, body)
	if err != nil {
		e.b.Fatal(err)
	}
	return rec
}

// try is serve that returns its error, for RunParallel goroutines, where
// b.Fatal must not be called.
func (e *benchEnv) try(want int, method, path, tok string, body any) (*httptest.ResponseRecorder, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != want {
		return rec, fmt.Errorf("%s %s: got %d %s, want %d", method, path, rec.Code, strings.TrimSpace(rec.Body.String()), want)
	}
	return rec, nil
}

// BenchmarkHeartbeat is POST /api/agents/{id}/heartbeat: token check plus
// the heartbeat, buffered by default (written behind in batches; no flush
// runs here, so the batch write is not in the figure: see argus-bench for
// the whole server). write-through sets HeartbeatFlush < 0, so every
// heartbeat is its own UPDATE.
func BenchmarkHeartbeat(b *testing.B) {
	for _, v := range []struct {
		name string
		cfg  server.Config
	}{
		{"buffered", server.Config{}},
		{"write-through", server.Config{HeartbeatFlush: -1}},
	} {
		b.Run(v.name+"/serial", func(b *testing.B) {
			e := newBenchEnvWith(b, v.cfg)
			path := e.agentPath("heartbeat")
			b.ReportAllocs()
			for b.Loop() {
				e.serve(http.StatusNoContent, "POST", path, e.agentTok, nil)
			}
		})
		// parallel is many heartbeats at once on one agent row: the
		// contention case for SQLite's single writer.
		b.Run(v.name+"/parallel", func(b *testing.B) {
			e := newBenchEnvWith(b, v.cfg)
			path := e.agentPath("heartbeat")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.try(http.StatusNoContent, "POST", path, e.agentTok, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkJobs is GET /api/agents/{id}/jobs without a wait: the answer an
// idle agent gets on every poll, and a full rerun round trip.
func BenchmarkJobs(b *testing.B) {
	b.Run("empty", func(b *testing.B) {
		e := newBenchEnv(b)
		path := e.agentPath("jobs")
		b.ReportAllocs()
		for b.Loop() {
			rec := e.serve(http.StatusOK, "GET", path, e.agentTok, nil)
			if !bytes.Contains(rec.Body.Bytes(), []byte(`"commands":[]`)) {
				b.Fatalf("empty queue answered %s", rec.Body)
			}
		}
	})
	// rerun-claim-ack is one command's life on the agent side, plus the
	// user's rerun that queues it: POST rerun, GET jobs, POST ack.
	b.Run("rerun-claim-ack", func(b *testing.B) {
		e := newBenchEnv(b)
		var batch api.Created
		rec := e.serve(http.StatusCreated, "POST", "/api/batches", e.userTok, api.CreateBatchRequest{
			Project: "bench", Name: "train",
			EnvSnapshot: api.EnvSnapshot{
				Command: api.CommandLine{Argv: []string{"python", "train.py"}},
				Cwd:     "/srv/exp", Host: "bench-host",
			},
		})
		if err := json.Unmarshal(rec.Body.Bytes(), &batch); err != nil {
			b.Fatal(err)
		}
		rerunPath := "/api/batches/" + batch.ID + "/rerun"
		jobsPath := e.agentPath("jobs")
		ack := api.AckRequest{PID: 4242}
		b.ReportAllocs()
		for b.Loop() {
			var q api.Queued
			rec := e.serve(http.StatusAccepted, "POST", rerunPath, e.userTok, nil)
			if err := json.Unmarshal(rec.Body.Bytes(), &q); err != nil {
				b.Fatal(err)
			}
			var jobs api.JobList
			rec = e.serve(http.StatusOK, "GET", jobsPath, e.agentTok, nil)
			if err := json.Unmarshal(rec.Body.Bytes(), &jobs); err != nil {
				b.Fatal(err)
			}
			if len(jobs.Commands) != 1 || jobs.Commands[0].ID != q.CmdID {
				b.Fatalf("jobs answered %s, want only %s", rec.Body, q.CmdID)
			}
			e.serve(http.StatusOK, "POST", e.agentPath("jobs/"+q.CmdID+"/ack"), e.agentTok, ack)
		}
	})
}
