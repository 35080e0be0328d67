package main_test

// Helpers for e2e_test.go: the real argus and argus-server binaries, run as
// subprocesses, and an agent played through the client package.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// e2e is one argus-server process on a loopback port with its SQLite file,
// and the binaries built for the test.
type e2e struct {
	*testenv.Env
	server *testenv.Server
	db     string
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	env := testenv.New(t)
	return &e2e{Env: env, db: filepath.Join(env.Dir, "argus.db")}
}

// createUser makes a user and returns the em_live_ token it printed.
func (e *e2e) createUser(t *testing.T, name string) string {
	t.Helper()
	tok, err := testenv.CreateUser(context.Background(), e.Bin(testenv.ServerBin), e.db, name)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// serve starts argus-server and waits until it is ready.
func (e *e2e) serve(t *testing.T) {
	t.Helper()
	e.server = e.StartServer(testenv.ServerSpec{DB: e.db})
}

// userEnv is a minimal environment for the argus CLI: PATH, HOME, the
// server URL and a user token, plus extra "K=V" entries.
func (e *e2e) userEnv(tok string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ARGUS_URL=" + e.server.URL, "ARGUS_TOKEN=" + tok}
	return append(env, extra...)
}

// argus runs the argus binary with exactly env (no ARGUS_* from the
// developer) in dir ("" for the test's own), failing t (a step's own
// subtest) if it cannot run or hangs.
func (e *e2e) argus(t *testing.T, env []string, dir string, args ...string) testenv.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := testenv.Run(ctx, testenv.RunSpec{Argv: append([]string{testenv.Bin(t, testenv.CLIBin)}, args...), Env: env, EnvOnly: true, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// client is a Go client for the user API (and agent registration).
func (e *e2e) client(t *testing.T, tok string) *client.Client {
	t.Helper()
	return e.Client(e.server, tok, client.Options{Timeout: 20 * time.Second})
}

// wantOK fails unless the command exited 0.
func wantOK(t *testing.T, what string, r testenv.Result) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s: want exit 0, got %s", what, r)
	}
}

// wantCode fails unless the command exited with code and said nothing on
// stderr: `argus status` reports a run's verdict by its exit code alone.
func wantCode(t *testing.T, what string, r testenv.Result, code int) {
	t.Helper()
	if r.Code != code || r.Stderr != "" {
		t.Fatalf("%s: want exit %d and nothing on stderr, got %s", what, code, r)
	}
}

// wantFail checks the CLI's error contract: exit 1, nothing on stdout, one
// line on stderr starting "argus: " that holds every one of subs, and no
// stack trace.
func wantFail(t *testing.T, what string, r testenv.Result, subs ...string) {
	t.Helper()
	line := strings.TrimSuffix(r.Stderr, "\n")
	if r.Code != 1 || r.Stdout != "" || !strings.HasPrefix(line, "argus: ") || strings.Contains(line, "\n") {
		t.Fatalf("%s: want exit 1 and one line \"argus: ...\" on stderr, got %s", what, r)
	}
	for _, bad := range []string{"goroutine", "panic"} {
		if strings.Contains(r.Stderr, bad) {
			t.Fatalf("%s: stderr has %q: %s", what, bad, r)
		}
	}
	for _, s := range subs {
		if !strings.Contains(line, s) {
			t.Fatalf("%s: stderr %q does not mention %q", what, line, s)
		}
	}
}

// fakeAgent plays argus-agent over the real agent API.
type fakeAgent struct {
	cl *client.Client // holds the ag_live_ token
	id string
}

func registerAgent(t *testing.T, userCl *client.Client, host string) fakeAgent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := userCl.Register(ctx, api.RegisterRequest{Hostname: host, OS: "linux", Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reg.Token, "ag_live_") {
		t.Fatalf("register answered token %q", reg.Token)
	}
	a := fakeAgent{cl: userCl.WithToken(reg.Token), id: reg.AgentID}
	if err := a.cl.Heartbeat(ctx, a.id); err != nil {
		t.Fatal(err)
	}
	return a
}

// agentGot is what the played agent saw: the one command it was handed and
// the server's answer to its ack.
type agentGot struct {
	cmd api.Command
	ack *api.Ack
	err error
}

// serveOne long-polls in a goroutine until one command arrives (or 30s
// pass), acks it with ackFor's answer, and reports on the channel. It must
// not call t.Fatal: it is not the test's goroutine.
func (a fakeAgent) serveOne(ackFor func(api.Command) api.AckRequest) <-chan agentGot {
	ch := make(chan agentGot, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			_ = a.cl.Heartbeat(ctx, a.id)
			jobs, err := a.cl.Jobs(ctx, a.id, 5*time.Second)
			if err != nil {
				ch <- agentGot{err: err}
				return
			}
			if len(jobs.Commands) == 0 {
				continue
			}
			if len(jobs.Commands) > 1 {
				ch <- agentGot{err: errors.New("agent was handed more than one command")}
				return
			}
			got := agentGot{cmd: jobs.Commands[0]}
			got.ack, got.err = a.cl.Ack(ctx, a.id, got.cmd.ID, ackFor(got.cmd))
			ch <- got
			return
		}
		ch <- agentGot{err: errors.New("no command reached the agent within 30s")}
	}()
	return ch
}

// await takes the played agent's report, failing the test on its error.
func await(t *testing.T, ch <-chan agentGot) agentGot {
	t.Helper()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatalf("agent: %v", got.err)
		}
		if got.ack == nil || got.ack.Duplicate || got.ack.State != "acked" {
			t.Fatalf("agent's ack answered %+v", got.ack)
		}
		return got
	case <-time.After(45 * time.Second):
		t.Fatal("agent goroutine never reported")
	}
	return agentGot{}
}
