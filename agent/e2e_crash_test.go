//go:build linux

package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// waitForFile is a run that lives until the test creates done in its cwd,
// then exits with code 4; it appends to starts.txt each time it starts.
// It also ends when starts.txt is gone (the test's directory removed), so
// a test that leaves it running leaves no process behind.
const waitForFile = `echo start >> starts.txt; while [ ! -f done ] && [ -f starts.txt ]; do sleep 0.05; done; exit 4`

// finish lets the waitForFile run in cwd end.
func finish(t *testing.T, cwd string) {
	t.Helper()
	touch(t, cwd, "done")
}

// touch creates an empty file name in dir: what the scripts of these
// tests wait for.
func touch(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func countStarts(t *testing.T, cwd string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cwd, "starts.txt"))
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "start\n")
}

// startsOnce is countStarts of a run known to be running: its PID shows
// before its shell has run a line, so the first start is waited for.
func startsOnce(t *testing.T, cwd string) int {
	t.Helper()
	waitFor(t, 10*time.Second, "the run's start in starts.txt", func() bool { return countStarts(t, cwd) > 0 })
	return countStarts(t, cwd)
}

func TestKill9OfTheAgentLeavesRunsAndARestartTakesThemBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	agent := e.startAgent(home)
	longID, _ := e.batch("echo started; exec sleep 300")
	endingID, endingCwd := e.batch(waitForFile)
	long := e.waitStatus(e.rerun(longID), api.RunRunning)
	ending := e.waitStatus(e.rerun(endingID), api.RunRunning)

	if err := agent.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.exit(agent, 5*time.Second)
	if !alive(long.PID) || !alive(ending.PID) {
		t.Fatal("a run died with the agent")
	}
	// One run ends while no agent is watching.
	finish(t, endingCwd)
	waitFor(t, 10*time.Second, "the run to end", func() bool { return !alive(ending.PID) })

	e.startAgent(home)
	r := e.waitEnded(ending.ID, 20*time.Second)
	if r.Status != api.RunExited || r.ExitUnknown || r.ExitCode == nil || *r.ExitCode != 4 {
		t.Fatalf("run that ended while the agent was down = %+v, want exited with its real code 4", r)
	}
	if n := countStarts(t, endingCwd); n != 1 {
		t.Fatalf("run started %d times", n)
	}
	// Stop still works on the run the restarted agent re-attached to.
	e.stop(long.ID, "5s")
	r = e.waitStopped(long.ID)
	if r.StopOutcome != api.StopTerminated || alive(long.PID) {
		t.Fatalf("re-attached run after stop = %+v (alive %v)", r, alive(long.PID))
	}
}

func TestCrashAfterSpawnBeforeAckDoesNotSpawnTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	crashing := e.startAgent(home, "ARGUS_AGENT_FAULT=after-spawn")
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	if code := e.exit(crashing, 10*time.Second); code != 70 {
		t.Fatalf("fault-injected agent exit %d, want 70", code)
	}
	waitFor(t, 5*time.Second, "the spawned run", func() bool { return len(leadersOfRun(t, runID)) == 1 })
	pid := leadersOfRun(t, runID)[0]

	e.startAgent(home)
	r := e.waitStatus(runID, api.RunRunning)
	if r.PID != pid {
		t.Fatalf("acked pid %d, the spawned process is %d", r.PID, pid)
	}
	// Past the server's 2s lease: had the ack not been sent, the command
	// would be redelivered; the journal must refuse to start it again.
	waitFor(t, 10*time.Second, "the ack in the journal", func() bool {
		for _, rec := range journalRecords(t, home) {
			if rec["run_id"] == runID && rec["ack_sent"] == true {
				return true
			}
		}
		return false
	})
	if n, leaders := countStarts(t, cwd), leadersOfRun(t, runID); n != 1 || len(leaders) != 1 {
		t.Fatalf("started %d times, %d groups of the run alive", n, len(leaders))
	}
	finish(t, cwd)
	r = e.waitEnded(runID, 20*time.Second)
	if r.Status != api.RunExited || r.ExitUnknown || r.ExitCode == nil || *r.ExitCode != 4 {
		t.Fatalf("re-attached run's end = %+v, want its real code 4", r)
	}
}

// A crash once the rerun is journaled but before it is spawned: right
// after the journal write, the server's answer to the start step perhaps
// still on its way (after-journal; the command is then delivered or
// starting on the server), or with the yes in hand (after-start; starting).
// Either way the restarted agent settles the record as failed, and the
// server takes that ack.
func TestCrashAfterJournalingNeverStartsTheCommand(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"after-journal", "after-start"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			home := e.agentHome("")
			crashing := e.startAgent(home, "ARGUS_AGENT_FAULT="+point)
			id, cwd := e.batch(waitForFile)
			runID := e.rerun(id)
			if code := e.exit(crashing, 10*time.Second); code != 70 {
				t.Fatalf("fault-injected agent exit %d, want 70", code)
			}
			e.startAgent(home)
			r := e.waitStatus(runID, api.RunFailed)
			if !strings.Contains(r.Error, "not started again") {
				t.Fatalf("failed run = %+v", r)
			}
			if n := countStarts(t, cwd); n != 0 || len(pidsOfRun(runID)) != 0 {
				t.Fatalf("the command ran (%d starts) although the agent crashed before starting it", n)
			}
		})
	}
}

// TestServerOutageIsRiddenOut: the server goes away for several of the
// agent's capped retries (a 1s cap here, through the hidden --max-backoff,
// instead of the 30s default the same proof took 20s to reach); the agent
// keeps running, keeps its run's exit in the outbox, and delivers it when
// the server is back behind the same URL.
func TestServerOutageIsRiddenOut(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Restartable: true}) // one URL across the restart
	home := e.agentHome("")
	agent := e.StartAgent(e.server, testenv.AgentSpec{Home: home, Args: []string{
		"--heartbeat-interval", "1s", "--poll-wait", "5s", "--max-backoff", "1s", "--log-format", "json",
	}}, e.ids[home], e.user).Proc
	id, cwd := e.batch(waitForFile)
	run := e.waitStatus(e.rerun(id), api.RunRunning)

	if err := e.server.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.exit(e.server.Proc, 15*time.Second)
	// The run ends during the outage; its report waits in the outbox.
	finish(t, cwd)
	var waits []time.Duration
	waitFor(t, 30*time.Second, "four failed polls", func() bool {
		if err := agent.Exited(); err != nil {
			t.Fatalf("agent exited during the outage: %v\n%s", err, agent.Output())
		}
		waits = retryWaits(t, agent.Output(), "polling for commands failed")
		return len(waits) >= 4
	})
	// Jittered in the top half of the cap, never over it; together longer
	// than the server's 2s lease, so the outage outlasted a delivery.
	var total time.Duration
	for _, w := range waits {
		if w < 500*time.Millisecond || w > time.Second {
			t.Fatalf("retry waits %v: one is outside [0.5s, 1s] for a 1s cap", waits)
		}
		total += w
	}
	if total < 2*time.Second {
		t.Fatalf("retry waits %v add up to %v, want at least 2s of outage", waits, total)
	}
	e.RestartServer(e.server)
	r := e.waitEnded(run.ID, 40*time.Second)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 4 {
		t.Fatalf("run after the outage = %+v", r)
	}
	again := e.waitStatus(e.rerun(id), api.RunExited) // the agent is back: done exists, so it exits at once
	if again.ExitCode == nil || *again.ExitCode != 4 || countStarts(t, cwd) != 2 {
		t.Fatalf("rerun after the outage = %+v, %d starts (want 2: one per run)", again, countStarts(t, cwd))
	}
}

// retryWaits is the retry_in of every JSON log line with msg.
func retryWaits(t *testing.T, log, msg string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Message string
			RetryIn float64 `json:"retry_in"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == msg {
			out = append(out, time.Duration(l.RetryIn*float64(time.Millisecond)))
		}
	}
	return out
}
