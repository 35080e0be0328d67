//go:build linux

package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one server, one user and a temp world for agents, on binaries
// built with the fault hooks (faultinject) the crash tests arm.
type env struct {
	*testenv.Env
	t      *testing.T
	server *testenv.Server
	token  string // alice's em_live_
	user   *client.Client
	ids    map[string]string // agent home → agent id
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvSpec(t, testenv.ServerSpec{})
}

// newEnvSpec is newEnv with a server of spec (its Args get --lease 2s).
func newEnvSpec(t *testing.T, spec testenv.ServerSpec) *env {
	t.Helper()
	e := &env{Env: testenv.New(t, "faultinject"), t: t, ids: map[string]string{}}
	spec.Args = append([]string{"--lease", "2s"}, spec.Args...)
	e.server = e.StartServer(spec)
	e.token = e.CreateUser(e.server, "alice")
	e.user = e.Client(e.server, e.token, client.Options{RetryMax: -1})
	return e
}

// agentHome registers an agent in a new home and returns the home.
func (e *env) agentHome(label string) string {
	e.t.Helper()
	home, id := e.AgentHome(e.server, e.token, label)
	e.ids[home] = id
	return home
}

// startAgent runs argus-agent in the foreground with a short heartbeat and
// a 2s grace period, and returns once it is ready (testenv's readiness:
// this process online and polling).
func (e *env) startAgent(home string, extraEnv ...string) *testenv.Proc {
	e.t.Helper()
	return e.startAgentGrace(home, "2s", extraEnv...)
}

// startAgentGrace is startAgent with the agent's --grace-period.
func (e *env) startAgentGrace(home, grace string, extraEnv ...string) *testenv.Proc {
	e.t.Helper()
	a := e.StartAgent(e.server, testenv.AgentSpec{
		Home: home, Env: extraEnv,
		Args: []string{"--heartbeat-interval", "1s", "--poll-wait", "5s", "--grace-period", grace,
			"--property", "team=vision", "--log-format", "json", "--log-level", "debug"},
	}, e.ids[home], e.user)
	return a.Proc
}

// exit waits for p to exit and returns its code.
func (e *env) exit(p *testenv.Proc, within time.Duration) int {
	e.t.Helper()
	return e.WaitExit(p, within)
}

// batch records a shell script as a batch run in a fresh cwd.
func (e *env) batch(script string) (id, cwd string) {
	e.t.Helper()
	cwd, err := os.MkdirTemp(e.Dir, "cwd-")
	if err != nil {
		e.t.Fatal(err)
	}
	host, _ := os.Hostname()
	c, err := e.user.CreateBatch(context.Background(), api.CreateBatchRequest{
		Project: "e2e", Name: "script",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"/bin/sh", "-c", script}}, Cwd: cwd, Host: host,
			// The server refuses a real token in a batch; a value that only
			// looks like one gets through, and the agent must still drop it.
			Env: map[string]string{"PATH": "/usr/bin:/bin", "SECRET_URL": "x" + e.token[:len(e.token)-1]}},
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
	e.WaitFor(within, what, func() bool {
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, within, what, cond)
}

func alive(pid int) bool { return testenv.Alive(pid) }

func pidsOfRun(runID string) []int { return testenv.RunPIDs(runID) }

// pgidOf reads a process's group.
func pgidOf(t *testing.T, pid int) int {
	t.Helper()
	g, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatalf("getpgid %d: %v", pid, err)
	}
	return g
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

// waitOutput waits until a run's output, as the server has it, holds s.
func (e *env) waitOutput(runID, s string) {
	e.t.Helper()
	e.WaitFor(20*time.Second, "run "+runID+" printing "+s, func() bool {
		l, err := e.user.RunLog(context.Background(), runID, 0, 0)
		return err == nil && strings.Contains(string(l.Data), s)
	})
}
