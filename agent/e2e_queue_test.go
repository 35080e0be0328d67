//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// startAgentWith is startAgent with more flags.
func (e *env) startAgentWith(home string, args []string, extraEnv ...string) *testenv.Proc {
	e.t.Helper()
	a := e.StartAgent(e.server, testenv.AgentSpec{
		Home: home, Env: extraEnv,
		Args: append([]string{"--heartbeat-interval", "1s", "--poll-wait", "5s", "--grace-period", "2s",
			"--log-format", "json", "--log-level", "debug"}, args...),
	}, e.ids[home], e.user)
	return a.Proc
}

// pauseAt arms the agent's fault hook to hold at point (fault_on.go) and
// returns its environment and a function that waits until the agent is
// there and one that lets it go on.
func (e *env) pauseAt(point string) (env []string, reached func(), release func()) {
	dir, err := os.MkdirTemp(e.Dir, "pause-")
	if err != nil {
		e.t.Fatal(err)
	}
	env = []string{"ARGUS_AGENT_FAULT=pause-" + point, "ARGUS_AGENT_FAULT_DIR=" + dir}
	reached = func() {
		e.t.Helper()
		waitFor(e.t, 20*time.Second, "the agent at "+point, func() bool {
			_, err := os.Stat(filepath.Join(dir, point+".reached"))
			return err == nil
		})
	}
	release = func() {
		e.t.Helper()
		if err := os.WriteFile(filepath.Join(dir, point+".go"), nil, 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	return env, reached, release
}

// cancel stops a run and fails unless the answer is 202.
func (e *env) cancel(runID string) {
	e.t.Helper()
	if _, err := e.user.Stop(context.Background(), runID, api.StopRequest{}); err != nil {
		e.t.Fatalf("stop of queued run %s: %v", runID, err)
	}
}

// logSays waits until the agent's log has a line holding every one of parts.
func logSays(t *testing.T, agent *testenv.Proc, what string, parts ...string) {
	t.Helper()
	waitFor(t, 20*time.Second, "the agent's log to say "+what, func() bool {
		for _, line := range strings.Split(agent.Output(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// A rerun cancelled while the agent holds it in a poll answer (here: the
// agent received it, then was SIGSTOPped) is never started once the agent
// resumes: the start step tells it the run was cancelled.
func TestCancelWhileTheAgentHoldsTheRerunNeverStartsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	env, reached, release := e.pauseAt("before-start")
	agent := e.startAgent(home, env...)
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	reached()
	if err := agent.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) returns before every thread has stopped: released too soon,
	// a thread still running sees the release and asks the server, which
	// then has the run starting (no longer cancellable).
	waitFor(t, 10*time.Second, "every thread of the agent stopped", func() bool { return threadsStopped(agent.PID()) })
	release() // lets it go on once it runs again
	e.cancel(runID)
	if r := e.waitStatus(runID, api.RunCancelled); r.PID != 0 || r.EndedAt == nil {
		t.Fatalf("cancelled run = %+v", r)
	}
	if err := agent.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	logSays(t, agent, "the rerun skipped", "rerun skipped", runID, "cancelled")
	// The agent journaled the rerun while it asked (rerun: the two go on at
	// once); told no, it took the record back rather than leave a record
	// that would make a redelivery look handled.
	logSays(t, agent, "the record taken back", "journal record is taken back", runID)
	if journalNames(t, home, runID) {
		t.Fatal("the cancelled run's journal record is still there")
	}
	// The agent is well and carries on: a rerun after it runs.
	e.waitStatus(e.rerun(id), api.RunRunning)
	if n := startsOnce(t, cwd); n != 1 {
		t.Fatalf("%d starts, want 1 (the second rerun only)", n)
	}
	if len(pidsOfRun(runID)) != 0 {
		t.Fatal("a process of the cancelled run exists")
	}
	if r := e.waitStatus(runID, api.RunCancelled); r.PID != 0 {
		t.Fatalf("cancelled run after the agent resumed = %+v", r)
	}
}

// threadsStopped reports whether every thread of pid is stopped by a
// signal (state T in /proc/<pid>/task/<tid>/stat).
func threadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which may hold spaces and ')'.
		end := bytes.LastIndexByte(data, ')')
		if end < 0 || len(data) <= end+2 || data[end+2] != 'T' {
			return false
		}
	}
	return true
}

// journalNames reports whether the agent's journal has a record of runID.
func journalNames(t *testing.T, home, runID string) bool {
	t.Helper()
	for _, rec := range journalRecords(t, home) {
		if rec["run_id"] == runID {
			return true
		}
	}
	return false
}

// A rerun the agent could not ask about (the server went away between the
// poll answer and the start step) is not started then, and its journal
// record, written while the agent asked, is taken back: when the server is
// back and the command's lease has run out, the redelivery is asked about
// afresh, told yes, and started, once.
func TestARerunTheAgentCouldNotAskAboutStartsOnItsRedelivery(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Restartable: true}) // one URL across the restart
	home := e.agentHome("")
	env, reached, release := e.pauseAt("before-start")
	agent := e.startAgentWith(home, []string{"--max-backoff", "1s"}, env...)
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	reached()
	if err := e.server.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.exit(e.server.Proc, 15*time.Second)
	release()
	logSays(t, agent, "the start step failing", "cannot ask the server whether to start the run", runID)
	logSays(t, agent, "the record taken back", "journal record is taken back", runID)
	if journalNames(t, home, runID) {
		t.Fatal("the unstarted run's journal record is still there")
	}
	if n := countStarts(t, cwd); n != 0 || len(pidsOfRun(runID)) != 0 {
		t.Fatalf("the run started (%d starts) although the server could not be asked", n)
	}
	e.RestartServer(e.server)
	r := e.waitStatus(runID, api.RunRunning) // redelivered past its lease, asked again: yes
	if n := startsOnce(t, cwd); r.PID == 0 || n != 1 {
		t.Fatalf("redelivered run = %+v, %d starts", r, n)
	}
	finish(t, cwd)
	if r := e.waitEnded(runID, 20*time.Second); r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 4 {
		t.Fatalf("redelivered run's end = %+v", r)
	}
	if n := countStarts(t, cwd); n != 1 {
		t.Fatalf("%d starts, want 1", n)
	}
}

// A stop that lands after the agent was told to start (held between the
// start step and the spawn) stops the run once it has its PID, and the run
// says it ran and was stopped.
func TestAStopRacingTheStartStopsTheRunTruthfully(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	env, reached, release := e.pauseAt("after-start")
	e.startAgent(home, env...)
	id, cwd := e.batch(waitForFile)
	runID := e.rerun(id)
	reached()
	stopped := make(chan error, 1)
	go func() {
		_, err := e.user.Stop(context.Background(), runID, api.StopRequest{GracePeriod: "2s"})
		stopped <- err
	}()
	// The stop cannot cancel a starting run; it waits for the PID. Let the
	// agent start it only once the server is waiting.
	waitFor(t, 20*time.Second, "the server waiting for the PID", func() bool {
		return strings.Contains(e.server.Proc.Output(), "stop of a starting run") &&
			strings.Contains(e.server.Proc.Output(), runID)
	})
	release()
	if err := <-stopped; err != nil {
		t.Fatalf("stop racing the start: %v", err)
	}
	r := e.waitStopped(runID)
	// The stop may end the shell before its first line (no start in
	// starts.txt); that it ran shows in its real exit, which its
	// supervisor saw.
	if n := countStarts(t, cwd); r.PID == 0 || r.StartedAt == nil || n > 1 || r.ExitUnknown || r.ExitCode == nil && r.Signal == "" {
		t.Fatalf("run stopped as it started = %+v, %d starts", r, n)
	}
	waitFor(t, 10*time.Second, "the run's processes gone", func() bool { return len(pidsOfRun(runID)) == 0 })
}

// The race without a hook: stops sent right after reruns land anywhere
// between queueing and starting. Whatever the timing, a run is either
// cancelled and never started, or started once and then stopped.
func TestCancelDeliverRaceIsAlwaysTruthful(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome(""))
	var cancelled []string // cwds of cancelled runs, checked again at the end
	for i := range 6 {
		id, cwd := e.batch(waitForFile)
		runID := e.rerun(id)
		if _, err := e.user.Stop(context.Background(), runID, api.StopRequest{GracePeriod: "2s"}); err != nil {
			t.Fatalf("round %d: stop: %v", i, err)
		}
		r := e.waitEnded(runID, 30*time.Second)
		switch r.Status {
		case api.RunCancelled:
			cancelled = append(cancelled, cwd)
			if r.PID != 0 {
				t.Fatalf("round %d: cancelled run has a PID: %+v", i, r)
			}
		case api.RunStopped:
			// Stopped before its first line, it shows no start, but a
			// real exit (see TestAStopRacingTheStartStopsTheRunTruthfully).
			if n := countStarts(t, cwd); n > 1 || r.PID == 0 || r.ExitUnknown || r.ExitCode == nil && r.Signal == "" {
				t.Fatalf("round %d: stopped run started %d times: %+v", i, n, r)
			}
		default:
			t.Fatalf("round %d: run ended %+v, want cancelled or stopped", i, r)
		}
		t.Logf("round %d: %s", i, r.Status)
		waitFor(t, 10*time.Second, "no process of the run", func() bool { return len(pidsOfRun(runID)) == 0 })
	}
	// Rounds later (and past the server's 2s lease, so any redelivery has
	// come and gone), no cancelled run has started.
	for _, cwd := range cancelled {
		if n := countStarts(t, cwd); n != 0 {
			t.Fatalf("a cancelled run started %d times", n)
		}
	}
}
