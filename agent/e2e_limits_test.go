//go:build linux

package agent_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// A rerun queued while its agent is away (crashed, so still inside the
// online window: a clean stop would have said goodbye and the rerun would
// be refused) expires at the server's --queue-ttl, and the agent that
// comes back never starts it.
func TestARerunExpiresWhileItsAgentIsAwayAndNeverStarts(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Args: []string{"--queue-ttl", "5s"}})
	home := e.agentHome("")
	agent := e.startAgent(home)
	id, cwd := e.batch(waitForFile)
	if err := agent.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.exit(agent, 15*time.Second)
	runID := e.rerun(id) // accepted: the agent's last heartbeat is recent
	queued := e.waitStatus(runID, api.RunQueued)
	if queued.ExpiresAt == nil || queued.WaitingReason != "" && queued.WaitingReason != "agent offline" {
		t.Fatalf("queued run = %+v", queued)
	}
	r := e.waitRun(runID, "run expired", 20*time.Second, func(r api.Run) bool { return r.Status == api.RunExpired })
	if r.EndedAt == nil || !r.EndedAt.Equal(*queued.ExpiresAt) {
		t.Fatalf("expired run = %+v, want ended at its deadline %v", r, *queued.ExpiresAt)
	}
	e.startAgent(home)
	// A rerun after the agent is back runs to its end: the agent has been
	// through its queue since, and the expired one is still not started.
	finish(t, cwd)
	e.waitStatus(e.rerun(id), api.RunExited)
	if n := countStarts(t, cwd); n != 1 {
		t.Fatalf("%d starts, want 1 (the rerun after the agent came back)", n)
	}
	if r := e.waitStatus(runID, api.RunExpired); r.PID != 0 {
		t.Fatalf("expired run after the agent came back = %+v", r)
	}
}

// The agent's own check: a rerun it holds past its deadline (here held in
// the hook right after the poll answer arrived) is refused, not started.
func TestTheAgentRefusesARerunPastItsDeadline(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Args: []string{"--queue-ttl", "5s"}})
	home := e.agentHome("")
	env, reached, release := e.pauseAt("received")
	agent := e.startAgent(home, env...)
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	reached()
	r := e.waitRun(runID, "run expired", 20*time.Second, func(r api.Run) bool { return r.Status == api.RunExpired })
	// The agent counts the deadline from when the poll answer arrived, so
	// its own deadline may fall a little after the server's: let it pass
	// too (with room for a loaded machine), or the server's answer to the
	// start step refuses the rerun first and this check is not the one
	// tested.
	waitFor(t, 10*time.Second, "the agent's deadline to pass", func() bool {
		return r.EndedAt != nil && time.Now().After(r.EndedAt.Add(2*time.Second))
	})
	release()
	logSays(t, agent, "the rerun refused", "past its deadline", runID)
	e.waitStatus(e.rerun(id), api.RunRunning) // the agent carries on
	if n := startsOnce(t, cwd); n != 1 {
		t.Fatalf("%d starts, want 1 (the later rerun only)", n)
	}
}

// With --max-runs 1, three reruns run one after another, and the two
// waiting say why.
func TestMaxRunsOneRunsThreeRerunsOneAfterAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	e.startAgentWith(home, []string{"--max-runs", "1"})
	var runs, cwds []string
	for range 3 {
		id, cwd := e.batch(waitForFile)
		runs, cwds = append(runs, e.rerun(id)), append(cwds, cwd)
	}
	for i := range runs {
		e.waitStatus(runs[i], api.RunRunning)
		for j := i + 1; j < len(runs); j++ {
			r := e.waitRun(runs[j], "a waiting run", 20*time.Second, func(r api.Run) bool { return r.WaitingReason != "" })
			if r.Status != api.RunQueued || r.WaitingReason != "host busy (1/1 runs)" {
				t.Fatalf("run %d while run %d runs = %+v", j, i, r)
			}
			if n := countStarts(t, cwds[j]); n != 0 {
				t.Fatalf("run %d started while run %d runs", j, i)
			}
		}
		finish(t, cwds[i])
		if r := e.waitEnded(runs[i], 20*time.Second); r.Status != api.RunExited {
			t.Fatalf("run %d = %+v", i, r)
		}
	}
}
