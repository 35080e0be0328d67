package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/apispec"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/sqlite"
	"github.com/argus-exec/argus/token"
)

// harness is a real server on a loopback port over a real SQLite file.
// Every request it sends goes through client, which checks the request
// and its answer against server/api/openapi.yaml (internal/apispec) and
// fails the test that made the harness on any mismatch.
type harness struct {
	t      *testing.T
	client *http.Client
	url    string
	dbPath string
	store  store.Store
	srv    *server.Server
	users  map[string]string // name → user id
	toks   map[string]string // name → em_live_ token
	stop   func()
}

func newHarness(t *testing.T, cfg server.Config) *harness {
	t.Helper()
	return newHarnessWithWaker(t, cfg, nil)
}

func newHarnessWithWaker(t *testing.T, cfg server.Config, w server.Waker) *harness {
	t.Helper()
	return newHarnessWrapped(t, cfg, w, nil)
}

// newHarnessWrapped is newHarness with the server's view of the store
// passed through wrap (when not nil), so a test can watch what the server
// asks of it; h.store stays the real one.
func newHarnessWrapped(t *testing.T, cfg server.Config, w server.Waker, wrap func(store.Store) store.Store) *harness {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "argus.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	cfg.RevocationMarker = server.RevocationMarker(dbPath)
	var served store.Store = st
	if wrap != nil {
		served = wrap(st)
	}
	srv := server.New(cfg, served, w)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	h := &harness{t: t, client: apispec.Client(t, nil), url: "http://" + ln.Addr().String(), dbPath: dbPath, store: st, srv: srv, users: map[string]string{}, toks: map[string]string{}}
	var once sync.Once
	h.stop = func() { // stops serving; the store stays open until cleanup
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		h.stop()
		st.Close()
	})
	return h
}

// revoke revokes a token (or a token id) as argus-server token revoke
// does: in the store, then the marker file that tells the running server.
func (h *harness) revoke(tokenOrID string) {
	h.t.Helper()
	if _, err := server.RevokeToken(context.Background(), h.store, tokenOrID); err != nil {
		h.t.Fatal(err)
	}
	if err := server.MarkRevoked(h.dbPath); err != nil {
		h.t.Fatal(err)
	}
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
	return h.send(req)
}

// send sends a request built by the caller and reads the whole answer.
func (h *harness) send(req *http.Request) response {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
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
// aliceOnline is the common start of a run's life: user alice, her batch in
// project mnist recorded on gpu-01, and her online agent there.
func (h *harness) aliceOnline() (alice, batchID, agentID, agentTok string) {
	alice = h.user("alice")
	batchID = h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok = h.agent(alice, "gpu-01", "", true)
	return alice, batchID, agentID, agentTok
}

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

// snapshot is every row of every table of the SQLite file, read through a
// separate connection, so a test can prove an error changed nothing at
// all: no row, no lease, no attempt count, no token.
type snapshot map[string][]string

func (h *harness) snapshot() snapshot {
	h.t.Helper()
	// Every poll is a heartbeat, written behind: written now, one that
	// came before the snapshot cannot land in the store after it.
	if h.srv != nil { // nil: the fuzz harness, which serves no polls
		if err := h.srv.FlushHeartbeats(context.Background()); err != nil {
			h.t.Fatal(err)
		}
		// Run ends become webhook deliveries behind too (webhook_send.go).
		if err := h.srv.ExpandRunEnds(context.Background()); err != nil {
			h.t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	tables, err := column(db, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		h.t.Fatal(err)
	}
	out := snapshot{}
	for _, table := range tables {
		rows, err := dumpRows(db, table)
		if err != nil {
			h.t.Fatalf("dump %s: %v", table, err)
		}
		out[table] = rows
	}
	if len(out["agents"]) == 0 && len(out["users"]) == 0 {
		h.t.Fatalf("snapshot found no users and no agents in %v: wrong file?", tables)
	}
	return out
}

func column(db *sql.DB, query string) ([]string, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func dumpRows(db *sql.DB, table string) ([]string, error) {
	rows, err := db.Query(`SELECT * FROM "` + table + `" ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, c := range cols {
			if c == "last_used_at" {
				// A token's last use is bookkeeping written behind on a
				// timer (lastused.go), not something a request stores.
				vals[i] = nil
			}
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	return out, rows.Err()
}

// unchanged fails when any row differs from before.
func (h *harness) unchanged(before snapshot, what string) {
	h.t.Helper()
	after := h.snapshot()
	if !reflect.DeepEqual(before, after) {
		for table := range after {
			if !reflect.DeepEqual(before[table], after[table]) {
				h.t.Fatalf("%s changed table %s:\nbefore %v\nafter  %v", what, table, before[table], after[table])
			}
		}
		h.t.Fatalf("%s changed the store", what)
	}
}

// doNoFatal is a jobs request for use off the test goroutine: errors are
// returned in the result, never through t.
func (h *harness) doNoFatal(method, path, tok string) pollResult {
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		return pollResult{err: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := h.client.Do(req)
	if err != nil {
		return pollResult{err: err.Error(), at: time.Now()}
	}
	defer resp.Body.Close()
	var l api.JobList
	err = json.NewDecoder(resp.Body).Decode(&l)
	r := pollResult{code: resp.StatusCode, header: resp.Header, cmds: l.Commands, at: time.Now()}
	if err != nil {
		r.err = err.Error()
	}
	return r
}

// doWithHeader sends a request with a raw Authorization header and returns
// the status code.
func (h *harness) doWithHeader(method, path, auth string) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hashOf(tok string) string { return token.Hash(tok) }

// started reruns a batch and plays its agent up to acking the PID: the
// run is running. It returns the rerun's ids.
func (h *harness) started(userTok, batchID, agentID, agentTok string, pid int) api.Queued {
	h.t.Helper()
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+batchID+"/rerun", userTok, nil).json(h.t, &q)
	h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok, api.AckRequest{PID: pid})
	return q
}
