//go:build linux

package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// resumedWithin bounds how long after the server is back the agent's work
// resumes: its probe comes about every second (0.5 to 1.5 s), while the
// poll loop this test waits out is backing off for 4 to 8 s and the
// heartbeats came every 10 s; with room for a loaded CI machine. The
// figures themselves are logged.
const resumedWithin = 3 * time.Second

// TestWorkResumesAsSoonAsTheServerIsBack: the server goes away long enough
// for the agent to be offline (a 3 s online window) and for its poll loop
// to back off for seconds (the default 30 s cap); a run ends meanwhile.
// Once the server answers again, the exit report arrives and a rerun
// starts within about a second: the first answer ends every loop's wait.
func TestWorkResumesAsSoonAsTheServerIsBack(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Restartable: true, Args: []string{"--online-window", "3s"}})
	home := e.agentHome("")
	agent := e.StartAgent(e.server, testenv.AgentSpec{Home: home, Args: []string{"--log-format", "json"}}, e.ids[home], e.user).Proc
	id, cwd := e.batch(waitForFile)
	run := e.waitStatus(e.rerun(id), api.RunRunning)

	if err := e.server.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.exit(e.server.Proc, 15*time.Second)
	finish(t, cwd) // the exit report waits in the outbox
	// 4 s or more: the outage has lasted 3.5 s at least, past the online
	// window, so the agent shows offline until it is heard again.
	waitFor(t, 30*time.Second, "the poll loop backing off for 4 s or more", func() bool {
		if err := agent.Exited(); err != nil {
			t.Fatalf("agent exited during the outage: %v\n%s", err, agent.Output())
		}
		waits := retryWaits(t, agent.Output(), "polling for commands failed")
		return len(waits) > 0 && waits[len(waits)-1] >= 4*time.Second
	})

	e.RestartServer(e.server)
	back := time.Now()
	ended := e.waitEnded(run.ID, 20*time.Second)
	reported := time.Since(back)
	if ended.Status != api.RunExited || ended.ExitCode == nil || *ended.ExitCode != 4 {
		t.Fatalf("run after the outage = %+v", ended)
	}
	var again string
	waitFor(t, 20*time.Second, "a rerun accepted (409 while the agent shows offline)", func() bool {
		q, err := e.user.Rerun(context.Background(), id, api.RerunRequest{})
		if errors.Is(err, client.ErrConflict) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		again = q.RunID
		return true
	})
	e.waitRun(again, "the rerun started", 20*time.Second, func(r api.Run) bool { return r.StartedAt != nil })
	started := time.Since(back)
	t.Logf("after the server's return: exit report in %v, rerun started in %v", reported, started)
	if reported > resumedWithin || started > resumedWithin {
		t.Fatalf("exit report %v and rerun start %v after the server's return, want both within %v:\n%s",
			reported, started, resumedWithin, agent.Output())
	}
}

// TestAStopInterruptedByAnAgentCrashResumesAtOnce: the agent is killed
// during a stop's grace period; restarted, it carries the stop on from its
// journal at once (with the grace asked for), instead of waiting for the
// server to hand the stop out again when its lease ends (60 s here).
func TestAStopInterruptedByAnAgentCrashResumesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Args: []string{"--lease", "60s"}})
	home := e.agentHome("")
	agent := e.startAgentGrace(home, "1s")
	id, cwd := e.batch(stubbornScript)
	run := e.waitStatus(e.rerun(id), api.RunRunning)
	e.waitOutput(run.ID, "started") // its SIGTERM trap is set: a stop before it would end the run outright
	if _, err := e.user.Stop(context.Background(), run.ID, api.StopRequest{GracePeriod: "3s"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the stop's SIGTERM", func() bool {
		_, err := os.Stat(filepath.Join(cwd, "term.txt"))
		return err == nil
	})
	if err := agent.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.exit(agent, 5*time.Second)
	if !alive(run.PID) {
		t.Fatal("the stubborn run died before its grace period ended")
	}
	restarted := time.Now()
	e.startAgentGrace(home, "1s")
	r := e.waitStopped(run.ID)
	took := time.Since(restarted)
	if r.Status != api.RunStopped || r.StopOutcome != api.StopKilled {
		t.Fatalf("run after the resumed stop = %+v, want stopped, killed", r)
	}
	// 3 s of grace counted afresh, then the kill; the lease would be 60 s.
	if took > 20*time.Second {
		t.Fatalf("the stop ended %v after the agent's restart: it waited for its lease, not for its journal", took)
	}
	t.Logf("interrupted stop finished %v after the agent's restart", took)
}

// TestADeliveryTheAgentNeverJournaledStartsAtOnceAfterItsRestart: the
// agent dies after a rerun reached it but before it journaled it; its
// restart tells the server so (POST …/restarted), and the rerun starts at
// once, once, instead of when its lease ends (60 s here).
func TestADeliveryTheAgentNeverJournaledStartsAtOnceAfterItsRestart(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Args: []string{"--lease", "60s"}})
	home := e.agentHome("")
	crashing := e.startAgent(home, "ARGUS_AGENT_FAULT=received")
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	if code := e.exit(crashing, 10*time.Second); code != 70 {
		t.Fatalf("fault-injected agent exit %d, want 70", code)
	}
	restarted := time.Now()
	e.startAgent(home)
	r := e.waitRun(runID, "the rerun running", 20*time.Second, func(r api.Run) bool { return r.Status == api.RunRunning })
	took := time.Since(restarted)
	if took > 15*time.Second {
		t.Fatalf("the rerun started %v after the agent's restart: it waited for its lease", took)
	}
	if n := startsOnce(t, cwd); n != 1 {
		t.Fatalf("the command started %d times, want once", n)
	}
	t.Logf("a delivery lost with the agent started %v after its restart (run %s)", took, r.ID)
}
