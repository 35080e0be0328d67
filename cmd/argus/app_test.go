package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// TestMain doubles as the child process for record tests, and keeps the
// developer's own ARGUS_* settings out of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("ARGUS_CLI_HELPER"); mode != "" {
		os.Exit(helperChild(mode))
	}
	for _, k := range []string{"ARGUS_URL", "ARGUS_TOKEN", "ARGUS_CA_CERT"} {
		os.Unsetenv(k)
	}
	testenv.Main(m)
}

// runCLI runs the CLI in this process.
func runCLI(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	app.Reader = strings.NewReader("")
	code := runApp(context.Background(), app, append([]string{"argus"}, args...))
	return testenv.Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// fakeServer records requests and answers from a route table.
type fakeServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]string // "METHOD /path" -> request bodies
}

func newFakeServer(t *testing.T, routes map[string]http.HandlerFunc) *fakeServer {
	t.Helper()
	fs := &fakeServer{bodies: map[string][]string{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		b, _ := io.ReadAll(r.Body)
		fs.mu.Lock()
		fs.bodies[key] = append(fs.bodies[key], string(b))
		fs.mu.Unlock()
		h, ok := routes[key]
		if !ok {
			reply(w, http.StatusNotFound, api.Error{Error: "no route " + key})
			return
		}
		h(w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fakeServer) requests(key string) []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.bodies[key])
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func replyWith(code int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { reply(w, code, v) }
}

func userTok(t *testing.T) string {
	t.Helper()
	tok, err := token.New(token.User)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// envTok puts a new user token in ARGUS_TOKEN for the test and returns it.
func envTok(t *testing.T) string {
	t.Helper()
	tok := userTok(t)
	t.Setenv("ARGUS_TOKEN", tok)
	return tok
}

// assertOneLineError checks the CLI failed with exit 1 and one "argus: "
// line on stderr.
func assertOneLineError(t *testing.T, r testenv.Result, want string) {
	t.Helper()
	if r.Code != 1 {
		t.Fatalf("exit code = %d, want 1 (stderr %q)", r.Code, r.Stderr)
	}
	if !strings.HasPrefix(r.Stderr, "argus: ") || strings.Count(r.Stderr, "\n") != 1 {
		t.Fatalf("stderr = %q, want one line starting with \"argus: \"", r.Stderr)
	}
	if !strings.Contains(r.Stderr, want) {
		t.Fatalf("stderr = %q, want it to contain %q", r.Stderr, want)
	}
}

func TestMissingConfigNamesTheEnvVar(t *testing.T) {
	assertOneLineError(t, runCLI(t, "runs"), "ARGUS_URL is not set")
	assertOneLineError(t, runCLI(t, "--url", "http://127.0.0.1:1", "runs"), "ARGUS_TOKEN is not set")
	t.Setenv("ARGUS_TOKEN", "em_live_short")
	assertOneLineError(t, runCLI(t, "--url", "http://127.0.0.1:1", "runs"), "ARGUS_TOKEN: token is malformed")
	agentTok, _ := token.New(token.Agent)
	t.Setenv("ARGUS_TOKEN", agentTok)
	r := runCLI(t, "--url", "http://127.0.0.1:1", "runs")
	assertOneLineError(t, r, "needs your user token")
	if strings.Contains(r.Stderr, agentTok) {
		t.Fatal("token printed")
	}
}

func TestEnvVarsAreRead(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /api/runs": replyWith(http.StatusOK, api.RunList{}),
	})
	t.Setenv("ARGUS_URL", srv.URL)
	t.Setenv("ARGUS_TOKEN", userTok(t))
	if r := runCLI(t, "runs"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "RUN") {
		t.Fatalf("runs via env = %+v", r)
	}
}

func TestTokenFlagWarnsAndIsHidden(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /api/runs": replyWith(http.StatusOK, api.RunList{}),
	})
	tok := userTok(t)
	r := runCLI(t, "--url", srv.URL, "--token", tok, "runs")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "RUN") {
		t.Fatalf("runs with --token = %+v", r)
	}
	if r.Stderr != tokenFlagWarning+"\n" {
		t.Fatalf("stderr = %q, want the one-line --token warning", r.Stderr)
	}
	if !strings.HasPrefix(tokenFlagWarning, "argus: warning: --token is visible") || strings.Contains(r.Stderr, tok) {
		t.Fatalf("warning = %q", r.Stderr)
	}
	// The flag wins over the environment, and still warns.
	t.Setenv("ARGUS_TOKEN", "em_live_short")
	if r := runCLI(t, "--url", srv.URL, "runs", "--token", tok); r.Code != 0 || r.Stderr != tokenFlagWarning+"\n" {
		t.Fatalf("--token with ARGUS_TOKEN set = %+v", r)
	}

	// From the environment: no warning.
	envTok(t)
	if r := runCLI(t, "--url", srv.URL, "runs"); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("runs with ARGUS_TOKEN = %+v, want no warning", r)
	}

	help := runCLI(t, "--help")
	if help.Code != 0 || strings.Contains(help.Stdout, "--token") || !strings.Contains(help.Stdout, "--url") {
		t.Fatalf("--help should hide --token:\n%s", help.Stdout)
	}
}

func TestUnauthorizedSaysCheckToken(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /api/agents": replyWith(http.StatusUnauthorized, api.Error{Error: "token revoked"}),
	})
	tok := envTok(t)
	r := runCLI(t, "--url", srv.URL, "agents")
	assertOneLineError(t, r, "token rejected: check ARGUS_TOKEN")
	if strings.Contains(r.Stderr+r.Stdout, tok) {
		t.Fatal("token printed")
	}
}

func TestAPIErrorsAreOneLine(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/batches/b1/rerun": replyWith(http.StatusConflict, api.Error{Error: "no agent online for host gpu-01"}),
	})
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "rerun", "b1")
	assertOneLineError(t, r, "409 Conflict: no agent online for host gpu-01")
}

func TestArgumentErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rerun"}, "usage: argus rerun BATCH"},
		{[]string{"stop", "r1", "r2"}, "usage: argus stop RUN"},
		{[]string{"status"}, "usage: argus status RUN"},
		{[]string{"share", "proj"}, "usage: argus share PROJECT USER"},
		{[]string{"unshare", "proj"}, "usage: argus unshare PROJECT USER"},
		{[]string{"unshare", "proj", "bob", "carol"}, "usage: argus unshare PROJECT USER"},
		{[]string{"runs", "extra"}, "usage: argus runs"},
		{[]string{"record"}, "usage: argus record"},
		{[]string{"rerun", "--bogus", "b1"}, "flag provided but not defined: -bogus"},
		{[]string{"stop", "r1", "--grace", "soon"}, "invalid value \"soon\""},
		{[]string{"--nope", "runs"}, "flag provided but not defined: -nope"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--url", "http://127.0.0.1:1", "--token", "x", "stop", "r1", "--grace", "-1s"}, "--grace must not be negative"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			assertOneLineError(t, runCLI(t, tc.args...), tc.want)
		})
	}
}

// A token pasted where an id belongs (argus status $ARGUS_TOKEN) is
// refused before anything is sent, and never echoed.
func TestTokenAsAnIDIsRefusedUnsent(t *testing.T) {
	tok := envTok(t)
	fs := newFakeServer(t, map[string]http.HandlerFunc{})
	t.Setenv("ARGUS_URL", fs.URL)
	for _, args := range [][]string{{"status", tok}, {"stop", "x" + tok}, {"share", "mnist", tok}} {
		r := runCLI(t, args...)
		assertOneLineError(t, r, "looks like a token")
		if strings.Contains(r.Stderr, tok[8:]) {
			t.Fatalf("%v: the error echoes the token: %q", args[0], r.Stderr)
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.bodies) != 0 {
		t.Fatalf("requests reached the server: %v", fs.bodies)
	}
}

func TestBadURLScheme(t *testing.T) {
	envTok(t)
	assertOneLineError(t, runCLI(t, "--url", "ftp://h", "runs"), "scheme must be http:// or https://")
}

func TestFlagsAfterArgumentsAndJSON(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/runs/r1/stop": replyWith(http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c9"}),
	})
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "stop", "r1", "--grace", "10s", "--json")
	if r.Code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if got := srv.requests("POST /api/runs/r1/stop"); len(got) != 1 || !strings.Contains(got[0], `"grace_period":"10s"`) {
		t.Fatalf("stop bodies = %q", got)
	}
	var q api.Queued
	if err := json.Unmarshal([]byte(r.Stdout), &q); err != nil || q.CmdID != "c9" {
		t.Fatalf("--json output %q: %v", r.Stdout, err)
	}
}

func TestRerunWaitPollsUntilStarted(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/batches/b1/rerun": replyWith(http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c1"}),
		"GET /api/runs/r1": func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			polls++
			status := api.RunQueued
			if polls >= 3 {
				status = api.RunRunning
			}
			mu.Unlock()
			reply(w, http.StatusOK, api.Run{ID: "r1", BatchID: "b1", Status: status, PID: 4242})
		},
	})
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "rerun", "b1", "--wait", "--poll-interval", "5ms")
	if r.Code != 0 {
		t.Fatalf("rerun --wait: %+v", r)
	}
	for _, want := range []string{"r1", "c1", "running", "4242"} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	if len(srv.requests("GET /api/runs/r1")) != 3 {
		t.Fatalf("polled %d times, want 3", len(srv.requests("GET /api/runs/r1")))
	}
}

func TestRerunWaitTimesOut(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/batches/b1/rerun": replyWith(http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c1"}),
		"GET /api/runs/r1":           replyWith(http.StatusOK, api.Run{ID: "r1", Status: api.RunQueued}),
	})
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "rerun", "--wait", "--wait-timeout", "100ms", "--poll-interval", "5ms", "b1")
	assertOneLineError(t, r, "run r1 still queued after 100ms")
}

func TestReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	cases := []struct{ in, want string }{
		{"argus stop r1 --grace 10s", "argus stop --grace 10s -- r1"},
		{"argus runs --json", "argus --json runs"},
		{"argus --url u rerun b1 --wait --url v", "argus --url u --url v rerun --wait -- b1"},
		{"argus rerun --timeout=5s b1", "argus rerun --timeout=5s -- b1"},
		{"argus record --json -- python -m x --lr 3", "argus --json record -- python -m x --lr 3"},
		{"argus record python train.py --json", "argus record -- python train.py --json"},
		{"argus --token t", "argus --token t"},
		{"argus help stop", "argus help stop"},
	}
	for _, tc := range cases {
		got := strings.Join(reorderArgs(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShareAndLists(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/projects/vision/recipients": replyWith(http.StatusOK, api.Project{Name: "vision", Owner: "alice", Recipients: []string{"bob"}}),
		"GET /api/batches":                     replyWith(http.StatusOK, api.BatchList{Batches: []api.Batch{{ID: "b1", Project: "vision"}}}),
		"GET /api/agents":                      replyWith(http.StatusOK, api.AgentList{Agents: []api.Agent{{ID: "a1", Hostname: "gpu-01", Online: true}}}),
	})
	envTok(t)
	base := []string{"--url", srv.URL}
	for args, want := range map[string]string{
		"share vision bob": "project vision (owner alice) is shared with: bob",
		"batches":          "b1",
		"agents":           "gpu-01",
	} {
		r := runCLI(t, append(base, strings.Fields(args)...)...)
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Errorf("%s: %+v, want stdout containing %q", args, r, want)
		}
	}
	if got := srv.requests("POST /api/projects/vision/recipients"); len(got) != 1 || !strings.Contains(got[0], `"user":"bob"`) {
		t.Fatalf("share body = %q", got)
	}
}

func TestUnshare(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"DELETE /api/projects/vision/recipients/bob": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		},
		"DELETE /api/projects/vision/recipients/carol": replyWith(http.StatusNotFound, api.Error{Error: "project vision is not shared with carol"}),
		"DELETE /api/projects/audio/recipients/bob":    replyWith(http.StatusForbidden, api.Error{Error: "only the owner of project audio can unshare it"}),
	})
	envTok(t)
	base := []string{"--url", srv.URL}

	r := runCLI(t, append(base, "unshare", "vision", "bob")...)
	if r.Code != 0 || r.Stdout != "project vision is no longer shared with bob\n" || r.Stderr != "" {
		t.Fatalf("unshare: %+v", r)
	}
	if got := srv.requests("DELETE /api/projects/vision/recipients/bob"); len(got) != 1 || got[0] != "" {
		t.Fatalf("unshare bodies = %q, want one empty body", got)
	}
	r = runCLI(t, append(base, "unshare", "vision", "bob", "--json")...)
	if r.Code != 0 || r.Stdout != "" {
		t.Fatalf("unshare --json: %+v, want exit 0 and no output", r)
	}

	assertOneLineError(t, runCLI(t, append(base, "unshare", "vision", "carol")...), "404 Not Found: project vision is not shared with carol")
	assertOneLineError(t, runCLI(t, append(base, "unshare", "audio", "bob")...), "403 Forbidden: only the owner of project audio can unshare it")
}

func helperChild(mode string) int {
	switch {
	case mode == "kill":
		return killSelf()
	case mode == "env":
		// Lets record tests see exactly what the child was given.
		for _, kv := range os.Environ() {
			fmt.Println("env: " + kv)
		}
		return 0
	case strings.HasPrefix(mode, "exit:"):
		var code int
		fmt.Sscanf(strings.TrimPrefix(mode, "exit:"), "%d", &code)
		fmt.Println("hello from child")
		return code
	}
	return 99
}

// Times carry their zone: the machine's by default, UTC with --utc.
func TestUTCFlagShowsTimesInUTC(t *testing.T) {
	seen := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /api/agents": replyWith(http.StatusOK, api.AgentList{Agents: []api.Agent{{ID: "a1", Hostname: "gpu-01", LastHeartbeat: &seen}}}),
	})
	t.Setenv("ARGUS_TOKEN", userTok(t))
	t.Setenv("TZ", "Asia/Tokyo")
	r := runCLI(t, "--url", srv.URL, "--utc", "agents")
	if r.Code != 0 || !strings.Contains(r.Stdout, "2025-03-01 12:00:00 UTC") {
		t.Fatalf("agents --utc = %+v, want the heartbeat as 2025-03-01 12:00:00 UTC", r)
	}
}
