//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// bins holds the three binaries, built once for the package's tests.
var bins struct{ server, agent, cli string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "argus-agent-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.server = filepath.Join(dir, "argus-server")
	bins.agent = filepath.Join(dir, "argus-agent")
	bins.cli = filepath.Join(dir, "argus")
	for out, pkg := range map[string]string{bins.server: "../cmd/argus-server", bins.agent: "../cmd/argus-agent", bins.cli: "../cmd/argus"} {
		// faultinject arms the crash points the crash tests use.
		build := exec.Command("go", "build", "-tags", "faultinject", "-o", out, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a subprocess's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// proc is a running subprocess.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), p.out)
		}
	})
	return p
}

// exitCode waits for the process to end and returns its exit code.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("process still running after %v:\n%s", within, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

// env is one server, one user and a temp world for agents.
type env struct {
	t      *testing.T
	addr   string
	db     string
	url    string
	token  string
	user   *client.Client
	server *proc
	dir    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, db: filepath.Join(dir, "argus.db"), dir: dir}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	ln.Close()
	e.url = "http://" + e.addr
	out, err := exec.Command(bins.server, "user", "create", "--db", e.db, "alice").Output()
	if err != nil {
		t.Fatal(err)
	}
	e.token = strings.TrimSpace(string(out))
	e.startServer()
	if e.user, err = client.New(e.url, e.token, client.Options{RetryMax: -1}); err != nil {
		t.Fatal(err)
	}
	return e
}

// startServer starts argus-server on the env's fixed address.
func (e *env) startServer() {
	e.t.Helper()
	e.server = startProc(e.t, nil, bins.server, "serve", "--addr", e.addr, "--db", e.db, "--lease", "2s", "--log-format", "json")
	waitFor(e.t, 10*time.Second, "server healthy", func() bool {
		resp, err := http.Get(e.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

// agentHome registers an agent in a new home and returns the home.
func (e *env) agentHome(label string) string {
	e.t.Helper()
	home := filepath.Join(e.dir, "home-"+label)
	args := []string{"--register", "--home", home}
	if label != "" {
		args = append(args, "--label", label)
	}
	cmd := exec.Command(bins.agent, args...)
	cmd.Env = append(os.Environ(), "ARGUS_URL="+e.url, "ARGUS_TOKEN="+e.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("register: %v\n%s", err, out)
	}
	return home
}

// startAgent runs argus-agent in the foreground with a short heartbeat.
func (e *env) startAgent(home string, extraEnv ...string) *proc {
	e.t.Helper()
	p := startProc(e.t, append([]string{"ARGUS_TOKEN="}, extraEnv...), bins.agent,
		"--home", home, "--heartbeat-interval", "1s", "--poll-wait", "5s", "--grace-period", "2s",
		"--property", "team=vision", "--log-format", "json", "--log-level", "debug")
	waitFor(e.t, 10*time.Second, "agent online", func() bool {
		agents, err := e.user.Agents(context.Background())
		if err != nil {
			return false
		}
		for _, a := range agents.Agents {
			if a.Online {
				return true
			}
		}
		return false
	})
	return p
}

// batch records a shell script as a batch run in a fresh cwd.
func (e *env) batch(script string) (id, cwd string) {
	e.t.Helper()
	cwd, err := os.MkdirTemp(e.dir, "cwd-")
	if err != nil {
		e.t.Fatal(err)
	}
	host, _ := os.Hostname()
	c, err := e.user.CreateBatch(context.Background(), api.CreateBatchRequest{
		Project: "e2e", Name: "script",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"/bin/sh", "-c", script}}, Cwd: cwd, Host: host,
			Env: map[string]string{"PATH": "/usr/bin:/bin", "SECRET_URL": "x" + e.token}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID, cwd
}

func (e *env) rerun(batchID string) string {
	e.t.Helper()
	q, err := e.user.Rerun(context.Background(), batchID, api.RerunRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return q.RunID
}

// waitRun polls a run until ok accepts it.
func (e *env) waitRun(runID, what string, within time.Duration, ok func(api.Run) bool) api.Run {
	e.t.Helper()
	var last api.Run
	waitFor(e.t, within, what, func() bool {
		r, err := e.user.Run(context.Background(), runID)
		if err == nil {
			last = *r
		}
		return err == nil && ok(*r)
	})
	return last
}

func (e *env) waitStatus(runID string, status api.RunStatus) api.Run {
	e.t.Helper()
	return e.waitRun(runID, "run "+string(status), 20*time.Second, func(r api.Run) bool { return r.Status == status })
}

// stop asks the server to stop a run; grace "" means the agent's own.
func (e *env) stop(runID, grace string) {
	e.t.Helper()
	if _, err := e.user.Stop(context.Background(), runID, api.StopRequest{GracePeriod: grace}); err != nil {
		e.t.Fatal(err)
	}
}

// waitEnded waits until a run has ended, whatever its final status.
func (e *env) waitEnded(runID string, within time.Duration) api.Run {
	e.t.Helper()
	return e.waitRun(runID, "the end of run "+runID, within, func(r api.Run) bool { return r.Status.Ended() })
}

// waitStopped waits until a run is stopped and its stop acked: the exit
// report and the stop's ack arrive in either order.
func (e *env) waitStopped(runID string) api.Run {
	e.t.Helper()
	return e.waitRun(runID, "run stopped and acked", 20*time.Second, func(r api.Run) bool {
		return r.Status == api.RunStopped && r.StopOutcome != ""
	})
}

// waitFor polls cond every 20ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	end := bytes.LastIndexByte(data, ')')
	return end > 0 && len(data) > end+2 && data[end+2] != 'Z'
}

// pgidOf reads a process's group.
func pgidOf(t *testing.T, pid int) int {
	t.Helper()
	g, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatalf("getpgid %d: %v", pid, err)
	}
	return g
}

// pidsOfRun lists live processes whose environment names the run.
func pidsOfRun(runID string) []int {
	var out []int
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("ARGUS_RUN_ID="+runID+"\x00")) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// readPID waits for a script to write a PID file and returns the PID.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "pid file "+filepath.Base(path), func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && pid > 0
	})
	return pid
}

// leadersOfRun lists the run's processes that lead their own group: one
// per time the agent started the run (its children share the group).
func leadersOfRun(t *testing.T, runID string) []int {
	var out []int
	for _, pid := range pidsOfRun(runID) {
		if g, err := syscall.Getpgid(pid); err == nil && g == pid {
			out = append(out, pid)
		}
	}
	return out
}
