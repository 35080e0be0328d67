//go:build linux

package agent_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// agentOnline is what GET /api/agents says of the agent of home.
func (e *env) agentOnline(home string) bool {
	e.t.Helper()
	l, err := e.user.Agents(context.Background(), client.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range l.Agents {
		if a.ID == e.ids[home] {
			return a.Online
		}
	}
	e.t.Fatalf("agent %s not listed", e.ids[home])
	return false
}

// rerunWith queues a rerun with req and returns the error as well.
func (e *env) rerunWith(batchID string, req api.RerunRequest) (string, error) {
	q, err := e.user.Rerun(context.Background(), batchID, req)
	if err != nil {
		return "", err
	}
	return q.RunID, nil
}

func TestACleanShutdownIsOfflineAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	agent := e.startAgent(home)
	id, _ := e.batch("exit 0")

	// A second agent refused by the lock says no goodbye for the first.
	second := e.Start(testenv.Spec{Argv: []string{e.Bin(testenv.AgentBin), "--home", home}, Env: []string{"ARGUS_TOKEN="}})
	if code := e.exit(second, 10*time.Second); code != 1 {
		t.Fatalf("second agent: exit %d:\n%s", code, second.Output())
	}
	if !e.agentOnline(home) {
		t.Fatal("the first agent is offline after a second one was refused")
	}

	if err := agent.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.exit(agent, 5*time.Second); code != 0 {
		t.Fatalf("agent exit code after SIGTERM: %d", code)
	}
	// The online window is 30s: only the goodbye can make this quick.
	e.WaitFor(time.Second, "a rerun refused with 409 after the agent stopped", func() bool {
		_, err := e.rerunWith(id, api.RerunRequest{})
		return errors.Is(err, client.ErrConflict)
	})
	if e.agentOnline(home) {
		t.Fatal("GET /api/agents shows the stopped agent online")
	}

	// Started again, it is online and takes reruns at once.
	e.startAgent(home)
	r := e.waitEnded(e.rerun(id), 20*time.Second)
	if r.Status != api.RunExited {
		t.Fatalf("run after the restart = %+v", r)
	}
}

func TestReregisterBesideALiveDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	agent := e.startAgent(home)
	path := token.CachePath(home, "")
	old, err := token.LoadCache(path)
	if err != nil {
		t.Fatal(err)
	}

	r := e.Run(testenv.RunSpec{
		Argv: []string{e.Bin(testenv.AgentBin), "--reregister", "--home", home},
		Env:  []string{"ARGUS_URL=" + e.server.URL, "ARGUS_TOKEN=" + e.token},
	})
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != e.ids[home] {
		t.Fatalf("--reregister beside the daemon: %s", r)
	}
	renewed, err := token.LoadCache(path)
	if err != nil || renewed.Token == old.Token {
		t.Fatalf("token file after --reregister: %+v, %v", renewed, err)
	}
	oldClient := e.Client(e.server, old.Token, client.Options{RetryMax: -1})
	if err := oldClient.Heartbeat(context.Background(), e.ids[home]); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("heartbeat with the old token: %v, want 401", err)
	}
	newClient := e.Client(e.server, renewed.Token, client.Options{RetryMax: -1})
	if err := newClient.Heartbeat(context.Background(), e.ids[home]); err != nil {
		t.Fatalf("heartbeat with the new token: %v", err)
	}

	// The daemon meets the revoked token, finds the new one and carries
	// on: it still takes commands, through more than one poll.
	id, _ := e.batch("echo done")
	for range 2 {
		if run := e.waitEnded(e.rerun(id), 20*time.Second); run.Status != api.RunExited || !strings.Contains(run.OutputTail, "done") {
			t.Fatalf("run after --reregister = %+v", run)
		}
	}
	select {
	case <-agent.Done():
		t.Fatalf("the daemon ended after --reregister:\n%s", agent.Output())
	default:
	}
	if !strings.Contains(agent.Output(), "carrying on with it") {
		t.Fatalf("the daemon never met the revoked token (the test proves nothing):\n%s", agent.Output())
	}

	// A revoked token with no replacement still ends it, with 78.
	e.Revoke(e.server, renewed.Token)
	if code := e.exit(agent, 20*time.Second); code != 78 {
		t.Fatalf("agent exit code after its new token was revoked: %d, want 78", code)
	}
}

// ignoresTERM is a run whose whole group ignores SIGTERM: only the
// grace period's SIGKILL ends it.
const ignoresTERM = `trap '' TERM; echo started; while :; do sleep 1; done`

func TestTimeoutStopsTheRunWithTheGraceEscalation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	e.startAgentGrace(home, "1s")
	id, _ := e.batch(ignoresTERM)
	const timeout, grace = 2 * time.Second, time.Second
	runID, err := e.rerunWith(id, api.RerunRequest{Timeout: timeout.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range pidsOfRun(runID) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	r := e.waitEnded(runID, 30*time.Second)
	if r.Status != api.RunStopped || r.StopReason != api.StopReasonTimeout || r.Signal != "SIGKILL" || r.Timeout != "2s" {
		t.Fatalf("timed-out run = %+v, want stopped by SIGKILL with stop_reason timeout", r)
	}
	// The agent's own clock: from the start it acked to the end it saw.
	// At least the timeout and the grace; the upper bound is generous, as
	// CI runs other work beside the tests.
	if ran := r.EndedAt.Sub(*r.StartedAt); ran < timeout+grace || ran > timeout+grace+15*time.Second {
		t.Fatalf("run lasted %v, want the %v timeout plus the %v grace", ran, timeout, grace)
	}
	if len(pidsOfRun(runID)) != 0 {
		t.Fatalf("processes of the run survived: %v", pidsOfRun(runID))
	}
}

func TestTimeoutSurvivesAnAgentCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	first := e.startAgent(home)
	id, _ := e.batch("exec sleep 300")
	const timeout = 5 * time.Second
	runID, err := e.rerunWith(id, api.RerunRequest{Timeout: timeout.String()})
	if err != nil {
		t.Fatal(err)
	}
	run := e.waitStatus(runID, api.RunRunning)
	t.Cleanup(func() { syscall.Kill(run.PID, syscall.SIGKILL) })

	// A crash: no goodbye, no chance to hand the timer over.
	first.Kill()
	e.exit(first, 5*time.Second)
	if !alive(run.PID) {
		t.Fatal("the run died with the agent")
	}
	e.startAgent(home)
	r := e.waitEnded(runID, 30*time.Second)
	if r.Status != api.RunStopped || r.StopReason != api.StopReasonTimeout {
		t.Fatalf("run after the restart = %+v, want stopped with stop_reason timeout", r)
	}
	if ran := r.EndedAt.Sub(*r.StartedAt); ran < timeout || ran > timeout+20*time.Second {
		t.Fatalf("run lasted %v, want its %v timeout", ran, timeout)
	}
	if alive(run.PID) {
		t.Fatal("the run is still alive after its timeout")
	}
}
