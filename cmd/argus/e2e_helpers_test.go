package main_test

// Helpers for e2e_test.go: the real argus and argus-server binaries, run as
// subprocesses, and an agent played through the client package.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// e2e is one argus-server process on a loopback port with its SQLite file,
// and the binaries built for the test.
type e2e struct {
	argusBin, serverBin string
	db, url             string
}

// buildBinaries compiles argus and argus-server into dir. (TestMain belongs
// to the package's internal tests, so the build happens here, once per
// top-level test.)
func buildBinaries(t *testing.T, dir string) (argusBin, serverBin string) {
	t.Helper()
	argusBin, serverBin = filepath.Join(dir, "argus"), filepath.Join(dir, "argus-server")
	for bin, pkg := range map[string]string{argusBin: ".", serverBin: "../argus-server"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return argusBin, serverBin
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	dir := t.TempDir()
	e := &e2e{db: filepath.Join(dir, "argus.db")}
	e.argusBin, e.serverBin = buildBinaries(t, dir)
	return e
}

// serverCLI runs an argus-server admin command to completion.
func (e *e2e) serverCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runBin(t, e.serverBin, nil, "", args...)
}

// createUser makes a user and returns the em_live_ token it printed.
func (e *e2e) createUser(t *testing.T, name string) string {
	t.Helper()
	r := e.serverCLI(t, "user", "create", "--db", e.db, name)
	tok := strings.TrimSuffix(r.stdout, "\n")
	if r.code != 0 || !strings.HasPrefix(tok, "em_live_") || strings.ContainsAny(tok, " \n") {
		t.Fatalf("user create %s: exit %d, stdout %q, stderr %q", name, r.code, r.stdout, r.stderr)
	}
	return tok
}

// serve starts argus-server and waits for /healthz. The process is killed
// in Cleanup; its log is shown if the test failed.
func (e *e2e) serve(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e.url = "http://" + addr
	logPath := filepath.Join(filepath.Dir(e.db), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.serverBin, "serve", "--addr", addr, "--db", e.db, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logFile, logFile // a file: no copying goroutine to race with
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("argus-server log:\n%s", log)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(e.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("argus-server exited before it became healthy")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("argus-server not healthy within 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// userEnv is a minimal environment for the argus CLI: PATH, HOME, the
// server URL and a user token, plus extra "K=V" entries.
func (e *e2e) userEnv(tok string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ARGUS_URL=" + e.url, "ARGUS_TOKEN=" + tok}
	return append(env, extra...)
}

// argus runs the argus binary with env (and no ARGUS_* from the developer).
func (e *e2e) argus(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return runBin(t, e.argusBin, env, "", args...)
}

// client is a Go client for the user API (and agent registration).
func (e *e2e) client(t *testing.T, tok string) *client.Client {
	t.Helper()
	cl, err := client.New(e.url, tok, client.Options{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// runBin runs a binary to completion under a deadline, so a hung CLI fails
// the test instead of stalling it. A nil env inherits the test's.
func runBin(t *testing.T, bin string, env []string, dir string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %v: no exit within 60s\nstdout: %s\nstderr: %s", filepath.Base(bin), args, &out, &errb)
	case errors.As(err, &ee):
		return cliResult{ee.ExitCode(), out.String(), errb.String()}
	case err != nil:
		t.Fatalf("%s %v: %v", filepath.Base(bin), args, err)
	}
	return cliResult{0, out.String(), errb.String()}
}

// wantOK fails unless the command exited 0.
func wantOK(t *testing.T, what string, r cliResult) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: want exit 0, got %s", what, r)
	}
}

// wantFail checks the CLI's error contract: exit 1, nothing on stdout, one
// line on stderr starting "argus: " that holds every one of subs, and no
// stack trace.
func wantFail(t *testing.T, what string, r cliResult, subs ...string) {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(line, "argus: ") || strings.Contains(line, "\n") {
		t.Fatalf("%s: want exit 1 and one line \"argus: ...\" on stderr, got %s", what, r)
	}
	for _, bad := range []string{"goroutine", "panic"} {
		if strings.Contains(r.stderr, bad) {
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
