package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlite"
	"github.com/argus-exec/argus/token"
)

// harness is a real server on a loopback port over a real SQLite file.
type harness struct {
	t     *testing.T
	url   string
	store store.Store
	srv   *server.Server
	users map[string]string // name → user id
	toks  map[string]string // name → em_live_ token
	stop  func()
}

func newHarness(t *testing.T, cfg server.Config) *harness {
	t.Helper()
	return newHarnessWithWaker(t, cfg, nil)
}

func newHarnessWithWaker(t *testing.T, cfg server.Config, w server.Waker) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "argus.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	srv := server.New(cfg, st, w)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	h := &harness{t: t, url: "http://" + ln.Addr().String(), store: st, srv: srv, users: map[string]string{}, toks: map[string]string{}}
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	}
	t.Cleanup(func() {
		if h.stop != nil {
			h.stop()
		}
	})
	return h
}

// user creates a user and returns their em_live_ token.
func (h *harness) user(name string) string {
	h.t.Helper()
	tok, err := server.CreateUser(context.Background(), h.store, name)
	if err != nil {
		h.t.Fatalf("create user %s: %v", name, err)
	}
	u, err := h.store.UserByName(context.Background(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	h.users[name] = u.ID
	h.toks[name] = tok
	return tok
}

// tokenFor is the token user() minted for name.
func (h *harness) tokenFor(name string) string {
	return h.toks[name]
}

// response is a decoded answer.
type response struct {
	code   int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends one raw HTTP request; body may be nil, a string (sent as is) or
// anything JSON-encodable.
func (h *harness) do(method, path, tok string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{code: resp.StatusCode, body: data, header: resp.Header}
}

// expect sends a request and fails unless the status matches. Error
// answers must be JSON {"error": "..."} with a message.
func (h *harness) expect(code int, method, path, tok string, body any) response {
	h.t.Helper()
	r := h.do(method, path, tok, body)
	if r.code != code {
		h.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.code, r.body, code)
	}
	if code >= 400 {
		var e api.Error
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
			h.t.Fatalf("%s %s: error body %q is not {\"error\": ...}", method, path, r.body)
		}
	}
	return r
}

// agent registers an agent for the user token on host and returns its id
// and ag_live_ token; online makes it heartbeat once.
func (h *harness) agent(userTok, host, label string, online bool) (string, string) {
	h.t.Helper()
	var reg api.RegisterResponse
	h.expect(201, "POST", "/api/agents/register", userTok,
		api.RegisterRequest{Hostname: host, Label: label, OS: "linux", Arch: "amd64", Version: "test"}).json(h.t, &reg)
	if online {
		h.expect(204, "POST", "/api/agents/"+reg.AgentID+"/heartbeat", reg.Token, nil)
	}
	return reg.AgentID, reg.Token
}

// batch records a batch and returns its id.
func (h *harness) batch(userTok, project, host string) string {
	h.t.Helper()
	var c api.Created
	h.expect(201, "POST", "/api/batches", userTok, api.CreateBatchRequest{
		Project: project, Name: "train",
		EnvSnapshot: api.EnvSnapshot{
			Command: api.CommandLine{Argv: []string{"python", "train.py", "--lr", "0.1"}},
			Cwd:     "/srv/exp", Host: host, Env: map[string]string{"CUDA_VISIBLE_DEVICES": "0"},
		},
	}).json(h.t, &c)
	return c.ID
}

// snapshot is everything the store holds for the harness's users, so a
// test can prove an error changed nothing.
type snapshot struct {
	Batches  map[string][]store.Batch
	Runs     map[string][]store.Run
	Agents   map[string][]store.Agent
	Projects map[string]store.Project
	Commands map[store.CommandState]int
}

func (h *harness) snapshot() snapshot {
	h.t.Helper()
	ctx := context.Background()
	s := snapshot{
		Batches: map[string][]store.Batch{}, Runs: map[string][]store.Run{},
		Agents: map[string][]store.Agent{}, Projects: map[string]store.Project{},
	}
	for name, id := range h.users {
		var err error
		if s.Batches[name], err = h.store.ListBatches(ctx, id); err != nil {
			h.t.Fatal(err)
		}
		if s.Runs[name], err = h.store.ListRunsForUser(ctx, id, 1000); err != nil {
			h.t.Fatal(err)
		}
		if s.Agents[name], err = h.store.ListAgents(ctx, id); err != nil {
			h.t.Fatal(err)
		}
		for _, b := range s.Batches[name] {
			if s.Projects[b.Project], err = h.store.Project(ctx, b.Project); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	st, err := h.store.Stats(ctx, time.Time{})
	if err != nil {
		h.t.Fatal(err)
	}
	s.Commands = st.CommandsByState
	return s
}

// unchanged fails when the store differs from before.
func (h *harness) unchanged(before snapshot, what string) {
	h.t.Helper()
	if after := h.snapshot(); !reflect.DeepEqual(before, after) {
		h.t.Fatalf("%s changed the store:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

func hashOf(tok string) string { return token.Hash(tok) }

// doNoFatal is a jobs request for use off the test goroutine: errors are
// returned in the result, never through t.
func (h *harness) doNoFatal(method, path, tok string) pollResult {
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		return pollResult{err: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return pollResult{err: err.Error(), at: time.Now()}
	}
	defer resp.Body.Close()
	var l api.JobList
	err = json.NewDecoder(resp.Body).Decode(&l)
	r := pollResult{code: resp.StatusCode, cmds: l.Commands, at: time.Now()}
	if err != nil {
		r.err = err.Error()
	}
	return r
}
