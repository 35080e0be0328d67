//go:build linux

package agent_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// printsAndWaits prints two lines, waits like waitForFile, prints two
// more and exits with code 3.
const printsAndWaits = `echo start >> starts.txt; echo line 1; echo line 2; ` +
	`while [ ! -f done ] && [ -f starts.txt ]; do sleep 0.05; done; echo line 3; echo line 4; exit 3`

// A run that ends while no agent runs, whether the agent was SIGKILLed or
// stopped cleanly, is reported once an agent is back with its real exit
// code and all its output: its supervisor, not the agent, waited for it.
func TestARunThatEndsWhileNoAgentRunsKeepsItsExitAndOutput(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			home := e.agentHome("")
			agent := e.startAgent(home)
			id, cwd := e.batch(printsAndWaits)
			run := e.waitStatus(e.rerun(id), api.RunRunning)

			if err := agent.Signal(sig); err != nil {
				t.Fatal(err)
			}
			e.exit(agent, 10*time.Second)
			if !alive(run.PID) {
				t.Fatal("the run died with the agent")
			}
			finish(t, cwd)
			waitFor(t, 10*time.Second, "the run to end", func() bool { return len(pidsOfRun(run.ID)) == 0 })

			e.startAgent(home)
			r := e.waitEnded(run.ID, 20*time.Second)
			if r.Status != api.RunExited || r.ExitUnknown || r.ExitCode == nil || *r.ExitCode != 3 {
				t.Fatalf("run that ended while the agent was away = %+v, want exited with code 3", r)
			}
			for i := 1; i <= 4; i++ {
				if line := fmt.Sprintf("line %d\n", i); !strings.Contains(r.OutputTail, line) {
					t.Errorf("output_tail %q lacks %q", r.OutputTail, line)
				}
			}
			// The whole log too, shipped by the restarted agent from where
			// the server had it.
			l := &logReader{e: e, runID: run.ID}
			l.readUntil(20*time.Second, "the whole log", complete)
			if want := "line 1\nline 2\nline 3\nline 4\n"; l.data.String() != want {
				t.Errorf("log %q, want %q", l.data.String(), want)
			}
			if n := countStarts(t, cwd); n != 1 {
				t.Fatalf("run started %d times", n)
			}
		})
	}
}

// A crash after the run was spawned but before its start was journaled:
// its supervisor's status file says it started and how it ended, so it is
// neither failed nor unknown, whether it ended before an agent was back
// (reported from the file alone) or after (adopted by its run ID, its
// unknown supervisor's file awaited).
func TestCrashBeforeTheStartIsJournaledStillReportsTheRealExit(t *testing.T) {
	t.Parallel()
	for _, endsBeforeRestart := range []bool{true, false} {
		t.Run(fmt.Sprintf("ends before the restart %v", endsBeforeRestart), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			home := e.agentHome("")
			crashing := e.startAgent(home, "ARGUS_AGENT_FAULT=before-record")
			id, cwd := e.batch(waitForFile)
			runID := e.rerun(id)
			if code := e.exit(crashing, 10*time.Second); code != 70 {
				t.Fatalf("fault-injected agent exit %d, want 70", code)
			}
			waitFor(t, 5*time.Second, "the spawned run", func() bool { return countStarts(t, cwd) == 1 })
			if endsBeforeRestart {
				finish(t, cwd)
				waitFor(t, 10*time.Second, "the run to end", func() bool { return len(pidsOfRun(runID)) == 0 })
			}
			e.startAgent(home)
			if !endsBeforeRestart {
				e.waitStatus(runID, api.RunRunning)
				finish(t, cwd)
			}
			r := e.waitEnded(runID, 20*time.Second)
			if r.Status != api.RunExited || r.ExitUnknown || r.ExitCode == nil || *r.ExitCode != 4 || r.PID == 0 {
				t.Fatalf("run that started around a crash = %+v, want exited with code 4 and its PID", r)
			}
			if n := countStarts(t, cwd); n != 1 {
				t.Fatalf("run started %d times", n)
			}
		})
	}
}
