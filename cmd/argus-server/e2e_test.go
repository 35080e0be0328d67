package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// cli runs argus-server to completion and returns stdout, stderr, exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := testenv.New(t).Run(testenv.RunSpec{Argv: append([]string{testenv.Bin(t, testenv.ServerBin)}, args...)})
	return r.Stdout, r.Stderr, r.Code
}

// serving is a running argus-server process. Every API exchange a test
// has with it is checked against the API document (testenv.HTTPClient).
type serving struct {
	*testenv.Server
	env *testenv.Env
}

// startServer starts argus-server serve on db, on a port of its own
// choosing, with the session key every server of a test shares (as
// replicas must).
func startServer(t *testing.T, db string, env ...string) *serving {
	t.Helper()
	e := testenv.New(t)
	s := e.StartServer(testenv.ServerSpec{DB: db, Env: append([]string{"ARGUS_SESSION_KEY=" + testSessionKey}, env...)})
	return &serving{Server: s, env: e}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	if err := s.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.env.WaitExit(s.Proc, 15*time.Second); code != 0 {
		t.Fatalf("server exited with %d after SIGTERM:\n%s", code, s.Proc.Output())
	}
}

func (s *serving) call(t *testing.T, method, path, tok string, body any, want int, out any) {
	t.Helper()
	code, data, _ := s.raw(t, method, path, tok, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, data, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(data), out); err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
	}
}

// raw sends one request (no token when tok is empty) and returns its
// status, body and Retry-After.
func (s *serving) raw(t *testing.T, method, path, tok string, body any) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.env.HTTPClient(s.Server).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header.Get("Retry-After")
}

func TestUserCreatePrintsOnlyTheToken(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "argus.db")
	out, errOut, code := cli(t, "user", "create", "--db", db, "alice")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tok := strings.TrimSuffix(out, "\n")
	if kind, err := token.Parse(tok); err != nil || kind != token.User || strings.Contains(tok, "\n") {
		t.Fatalf("stdout %q is not exactly one em_live_ token (%v)", out, err)
	}
	_, errOut, code = cli(t, "user", "create", "--db", db, "alice")
	if code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("duplicate user: exit %d, stderr %q", code, errOut)
	}
}

func TestServeRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "argus.db")
	out, _, _ := cli(t, "user", "create", "--db", db, "alice")
	alice := strings.TrimSpace(out)
	s := startServer(t, db)

	var batch api.Created
	s.call(t, "POST", "/api/batches", alice, api.CreateBatchRequest{Project: "mnist", EnvSnapshot: api.EnvSnapshot{
		Command: api.CommandLine{Argv: []string{"true"}}, Cwd: "/", Host: "gpu-01",
	}}, 201, &batch)
	var reg api.RegisterResponse
	s.call(t, "POST", "/api/agents/register", alice, api.RegisterRequest{Hostname: "gpu-01"}, 201, &reg)
	s.call(t, "POST", "/api/agents/"+reg.AgentID+"/heartbeat", reg.Token, nil, 204, nil)
	var q api.Queued
	s.call(t, "POST", "/api/batches/"+batch.ID+"/rerun", alice, nil, 202, &q)
	s.stop(t)

	s = startServer(t, db)
	var b api.Batch
	s.call(t, "GET", "/api/batches/"+batch.ID, alice, nil, 200, &b)
	if len(b.Runs) != 1 || b.Runs[0].ID != q.RunID || b.Runs[0].Status != api.RunQueued {
		t.Fatalf("batch after restart = %+v", b)
	}
	var agents api.AgentList
	s.call(t, "GET", "/api/agents", alice, nil, 200, &agents)
	if len(agents.Agents) != 1 || agents.Agents[0].ID != reg.AgentID || agents.Agents[0].LastHeartbeat == nil {
		t.Fatalf("agents after restart = %+v", agents)
	}
	var jobs api.JobList
	s.call(t, "GET", "/api/agents/"+reg.AgentID+"/jobs", reg.Token, nil, 200, &jobs)
	if len(jobs.Commands) != 1 || jobs.Commands[0].ID != q.CmdID {
		t.Fatalf("queued command after restart = %+v", jobs)
	}

	// Revoking through the CLI while the server runs takes effect at once;
	// "-" reads the token from stdin, out of argv.
	s.env.Revoke(s.Server, reg.Token)
	s.call(t, "POST", "/api/agents/"+reg.AgentID+"/heartbeat", reg.Token, nil, 401, nil)
	s.stop(t)
	if log := s.Proc.Output(); strings.Contains(log, alice) || strings.Contains(log, reg.Token) {
		t.Fatal("server log holds a token")
	}
}

func TestServeErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"busy port", []string{"serve", "--addr", busy.Addr().String(), "--db", filepath.Join(dir, "a.db")}, "already in use"},
		{"database under a file", []string{"serve", "--addr", "127.0.0.1:0", "--db", "/etc/hostname/argus.db"}, "argus.db"},
		{"unknown flag", []string{"serve", "--bogus"}, "bogus"},
		{"bad log level", []string{"serve", "--log-level", "loud", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "b.db")}, "log-level"},
		{"postgres unreachable", []string{"serve", "--addr", "127.0.0.1:0", "--db", "postgres://u:secret@127.0.0.1:1/test", "--session-key", testSessionKey}, "open database postgres://u:xxxxx@127.0.0.1:1/test"},
		{"postgres without a session key", []string{"serve", "--addr", "127.0.0.1:0", "--db", "postgres://u:secret@127.0.0.1:1/test"}, "--session-key"},
		{"postgres bad port", []string{"user", "create", "--db", "postgresql://u:secret@127.0.0.1:nope/test", "bob"}, "invalid port"},
		{"revoke unknown", []string{"token", "revoke", "--db", filepath.Join(dir, "c.db"), "tok_nope"}, "no such token"},
		{"flag after the argument", []string{"user", "create", "bob", "--db", filepath.Join(dir, "e.db")}, "flags go before"},
		{"tls cert without key", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "g.db"), "--tls-cert", "/nonexistent.pem"}, "--tls-key"},
		{"unreadable tls cert", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "h.db"), "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, "load TLS certificate"},
		{"short session key", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "f.db"), "--session-key", "short"}, "session-key"},
		{"user create without name", []string{"user", "create", "--db", filepath.Join(dir, "d.db")}, "NAME"},
		{"bad trusted proxy", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "i.db"), "--trusted-proxy", "10.0.0.0/99"}, "--trusted-proxy"},
		{"log-max below the head", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "k.db"), "--log-max", "1MiB"}, "--log-max 1MiB is too small"},
		{"log-max not a size", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "l.db"), "--log-max", "lots"}, "--log-max \"lots\" is not a size"},
		{"zero auth-fail rate", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "j.db"), "--auth-fail-rate", "0"}, "--auth-fail-rate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := cli(t, c.args...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(errOut, c.want) || !strings.HasPrefix(errOut, "argus-server: ") {
				t.Fatalf("exit %d, stderr %q: want one line mentioning %q", code, errOut, c.want)
			}
			if strings.Contains(errOut, "secret") || strings.Contains(errOut, "goroutine") {
				t.Fatalf("stderr leaks a password or a stack: %q", errOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a.db")); err == nil {
		t.Error("a failed serve on a busy port created its database")
	}
}

func TestSIGTERMAnswersHeldLongPolls(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "argus.db")
	out, _, _ := cli(t, "user", "create", "--db", db, "alice")
	s := startServer(t, db)
	var reg api.RegisterResponse
	s.call(t, "POST", "/api/agents/register", strings.TrimSpace(out), api.RegisterRequest{Hostname: "gpu-01"}, 201, &reg)

	held := s.holdPoll(t, reg.AgentID, reg.Token, "60s")
	start := time.Now()
	s.stop(t)
	select {
	case a := <-held:
		if a.err != nil || a.code != 200 || a.jobs.Commands == nil || len(a.jobs.Commands) != 0 {
			t.Fatalf("held poll at SIGTERM: %+v", a)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("held poll answered %v after SIGTERM", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held poll not answered after SIGTERM")
	}
}

const testSessionKey = "test-session-key-0123456789abcdefghijklmnop"

// polled is a long-poll's answer and when it came.
type polled struct {
	at   time.Time
	code int
	jobs api.JobList
	err  error
}

// holdPoll starts GET …/jobs?wait= on s and returns once the server reports
// the poll held (argus_jobs_polls_held), so what the test does next happens
// to a poll that is really waiting.
func (s *serving) holdPoll(t *testing.T, agentID, tok, wait string) <-chan polled {
	t.Helper()
	held := make(chan polled, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL+"/api/agents/"+agentID+"/jobs?wait="+wait, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.env.HTTPClient(s.Server).Do(req)
		if err != nil {
			held <- polled{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		ans := polled{at: time.Now(), code: resp.StatusCode, err: err}
		if err == nil {
			ans.err = json.Unmarshal(data, &ans.jobs)
		}
		held <- ans
	}()
	s.env.WaitFor(5*time.Second, "the long-poll to show as held in /metrics", func() bool {
		n, err := s.PollsHeld(context.Background())
		return err == nil && n == 1
	})
	return held
}
