//go:build linux

package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// waitForFile is a run that lives until the test creates done in its cwd,
// then exits with code 4; it appends to starts.txt each time it starts.
const waitForFile = `echo start >> starts.txt; while [ ! -f done ]; do sleep 0.05; done; exit 4`

func countStarts(t *testing.T, cwd string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cwd, "starts.txt"))
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "start\n")
}

func TestKill9OfTheAgentLeavesRunsAndARestartTakesThemBack(t *testing.T) {
	e := newEnv(t)
	home := e.agentHome("")
	agent := e.startAgent(home)
	longID, _ := e.batch("echo started; exec sleep 300")
	endingID, endingCwd := e.batch(waitForFile)
	long := e.waitStatus(e.rerun(longID), api.RunRunning)
	ending := e.waitStatus(e.rerun(endingID), api.RunRunning)

	if err := agent.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	agent.exitCode(t, 5*time.Second)
	if !alive(long.PID) || !alive(ending.PID) {
		t.Fatal("a run died with the agent")
	}
	// One run ends while no agent is watching.
	if err := os.WriteFile(filepath.Join(endingCwd, "done"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the run to end", func() bool { return !alive(ending.PID) })

	e.startAgent(home)
	r := e.waitEnded(ending.ID, 20*time.Second)
	if r.Status != api.RunExited || !r.ExitUnknown || r.ExitCode != nil {
		t.Fatalf("run that ended while the agent was down = %+v, want exited with an unknown status", r)
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
	e := newEnv(t)
	home := e.agentHome("")
	crashing := e.startAgent(home, "ARGUS_AGENT_FAULT=after-spawn")
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	if code := crashing.exitCode(t, 10*time.Second); code != 70 {
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
	if err := os.WriteFile(filepath.Join(cwd, "done"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.waitEnded(runID, 20*time.Second)
	if r.Status != api.RunExited || !r.ExitUnknown {
		t.Fatalf("re-attached run's end = %+v", r)
	}
}

func TestCrashAfterJournalingNeverStartsTheCommand(t *testing.T) {
	e := newEnv(t)
	home := e.agentHome("")
	crashing := e.startAgent(home, "ARGUS_AGENT_FAULT=after-journal")
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	if code := crashing.exitCode(t, 10*time.Second); code != 70 {
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
}

func TestServerOutageOf20sIsRiddenOut(t *testing.T) {
	e := newEnv(t)
	agent := e.startAgent(e.agentHome(""))
	id, cwd := e.batch(waitForFile)
	run := e.waitStatus(e.rerun(id), api.RunRunning)

	if err := e.server.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.server.exitCode(t, 15*time.Second)
	// The run ends during the outage; its report waits in the outbox.
	if err := os.WriteFile(filepath.Join(cwd, "done"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	outage := time.Now().Add(20 * time.Second)
	for time.Now().Before(outage) {
		select {
		case <-agent.done:
			t.Fatalf("agent exited during the outage:\n%s", agent.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !strings.Contains(agent.out.String(), "polling for commands failed") {
		t.Fatalf("agent did not report the outage:\n%s", agent.out)
	}
	e.startServer()
	r := e.waitEnded(run.ID, 40*time.Second)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 4 {
		t.Fatalf("run after the outage = %+v", r)
	}
	again := e.waitStatus(e.rerun(id), api.RunExited) // the agent is back: done exists, so it exits at once
	if again.ExitCode == nil || *again.ExitCode != 4 || countStarts(t, cwd) != 2 {
		t.Fatalf("rerun after the outage = %+v, %d starts (want 2: one per run)", again, countStarts(t, cwd))
	}
}
