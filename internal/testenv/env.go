package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/apispec"
)

// builder is the test process's Builder, set up by Main.
var builder *Builder

// Main runs a package's tests (call it from TestMain) with the binaries
// built into this checkout's folder of the user's cache (see buildCache).
func Main(m *testing.M) {
	dir, err := buildCache()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	builder = NewBuilder(dir)
	os.Exit(m.Run())
}

// buildCache is where tests keep the binaries they build, one folder per
// checkout: go build leaves an up-to-date binary as it is instead of
// linking it again, so the packages of one go test run, and later runs,
// share the work (linking is most of a build once the go build cache is
// warm). It is a cache, like go's own, and safe to delete; concurrent
// builds of one binary replace it by rename, which a running copy survives.
func buildCache() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256(bytes.TrimSpace(out))
	dir := filepath.Join(base, "argus-testenv", hex.EncodeToString(sum[:6]))
	return dir, os.MkdirAll(dir, 0o700)
}

// Bin returns cmd/<name> built with tags, once per test process.
func Bin(t testing.TB, name string, tags ...string) string {
	t.Helper()
	if builder == nil {
		t.Fatal("testenv: call testenv.Main(m) from the package's TestMain")
	}
	path, err := builder.Build(context.Background(), name, tags...)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Env is one test's world: a temp dir and the binaries built with Tags.
// Every method fails the test on error; whatever it starts is killed in
// Cleanup, and its output shown when the test failed. Everything it starts
// carries EnvDir=Dir in its environment, so that what outlives those
// processes (an agent's runs and supervisor) is found and ended before the
// dir is removed (endLeftovers).
type Env struct {
	T    testing.TB
	Dir  string
	Tags []string // build tags of the binaries, e.g. faultinject
}

// New makes an Env in a fresh temp dir.
func New(t testing.TB, tags ...string) *Env {
	e := &Env{T: t, Dir: t.TempDir(), Tags: tags}
	// Registered right after TempDir's own cleanup, so it runs after every
	// later one (the kills of what the Env started) and before the dir's
	// removal.
	t.Cleanup(e.endLeftovers)
	return e
}

// Bin is the binary name built with the Env's tags.
func (e *Env) Bin(name string) string {
	e.T.Helper()
	return Bin(e.T, name, e.Tags...)
}

// StartServer starts argus-server (Bin and Dir default to the Env's) and
// waits until it is ready.
func (e *Env) StartServer(spec ServerSpec) *Server {
	e.T.Helper()
	if spec.Bin == "" {
		spec.Bin = e.Bin(ServerBin)
	}
	if spec.Dir == "" {
		spec.Dir = e.Dir
	}
	spec.Env = e.marked(spec.Env)
	s, err := StartServer(context.Background(), spec)
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		if s.front != nil {
			s.front.close()
		}
	})
	e.cleanup(s.Proc)
	return s
}

// RestartServer starts a Restartable s again after it exited, behind the
// same URL.
func (e *Env) RestartServer(s *Server) {
	e.T.Helper()
	if err := s.Restart(context.Background()); err != nil {
		e.T.Fatal(err)
	}
	e.cleanup(s.Proc)
}

// Revoke revokes tok on s's database.
func (e *Env) Revoke(s *Server, tok string) {
	e.T.Helper()
	if err := s.Revoke(context.Background(), tok); err != nil {
		e.T.Fatal(err)
	}
}

// CreateUser makes a user on s's database and returns their em_live_ token.
func (e *Env) CreateUser(s *Server, name string) string {
	e.T.Helper()
	tok, err := s.CreateUser(context.Background(), name)
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// Client is a Go client of s with tok; opts.RetryMax -1 means no retries,
// so a failed call shows as one. Every request it makes and every answer
// it gets are checked against the API document (internal/apispec). Its
// transport trusts the server's CA (ServerSpec.CACertFile): opts must not
// set CACertFile or InsecureSkipVerify, which client.New refuses next to
// a transport of the caller's.
func (e *Env) Client(s *Server, tok string, opts client.Options) *client.Client {
	e.T.Helper()
	opts.Transport = e.HTTPClient(s).Transport
	c, err := client.New(s.URL, tok, opts)
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// HTTPClient is a plain HTTP client for s (trusting its CA, if any) whose
// API exchanges are checked against the API document; it does not follow
// redirects, so a test sees them.
func (e *Env) HTTPClient(s *Server) *http.Client {
	return apispec.Client(e.T, &http.Client{
		Transport:     s.transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
}

// AgentHome registers an agent in a new home under the Env's dir, named
// after label ("" is the default identity), and returns home and id.
func (e *Env) AgentHome(s *Server, userToken, label string, extra ...string) (home, id string) {
	e.T.Helper()
	home = filepath.Join(e.Dir, "home-"+label)
	if label != "" {
		extra = append(extra, "--label", label)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := s.Register(ctx, e.Bin(AgentBin), home, userToken, extra...)
	if err != nil {
		e.T.Fatal(err)
	}
	return home, id
}

// StartAgent starts a registered agent and waits until it is ready.
func (e *Env) StartAgent(s *Server, spec AgentSpec, id string, user *client.Client) *Agent {
	e.T.Helper()
	if spec.Bin == "" {
		spec.Bin = e.Bin(AgentBin)
	}
	spec.Env = e.marked(spec.Env)
	a, err := s.StartAgent(context.Background(), spec, id, user)
	if err != nil {
		e.T.Fatal(err)
	}
	e.cleanup(a.Proc)
	return a
}

// Start starts a child process and kills it in Cleanup.
func (e *Env) Start(spec Spec) *Proc {
	e.T.Helper()
	if spec.Log == nil && spec.LogPath == "" {
		f, err := os.CreateTemp(e.Dir, "proc-*.log")
		if err != nil {
			e.T.Fatal(err)
		}
		f.Close()
		spec.LogPath = f.Name()
	}
	spec.Env = e.marked(spec.Env)
	p, err := Start(spec)
	if err != nil {
		e.T.Fatal(err)
	}
	e.cleanup(p)
	return p
}

// Run runs a command to completion within a minute. Unless EnvOnly, the
// command carries EnvDir too (a local run it leaves behind is found).
func (e *Env) Run(spec RunSpec) Result {
	e.T.Helper()
	if !spec.EnvOnly {
		spec.Env = e.marked(spec.Env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, spec)
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

// WaitExit waits for p to exit and returns its exit code.
func (e *Env) WaitExit(p *Proc, within time.Duration) int {
	e.T.Helper()
	code, err := p.Wait(within)
	if err != nil {
		e.T.Fatalf("%v:\n%s", err, p.Output())
	}
	return code
}

// WaitFor polls cond until it holds, failing the test after within.
func (e *Env) WaitFor(within time.Duration, what string, cond func() bool) {
	e.T.Helper()
	WaitFor(e.T, within, what, cond)
}

// WaitFor polls cond every PollInterval until it holds, failing the test
// after within.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	err := Poll(context.Background(), within, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("not yet")
	})
	if err != nil {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// cleanup kills p when the test ends and shows its output if it failed.
func (e *Env) cleanup(p *Proc) {
	e.T.Cleanup(func() {
		p.Kill()
		if e.T.Failed() {
			e.T.Logf("%s (pid %d) output:\n%s", p.Name, p.PID(), p.Output())
		}
	})
}
