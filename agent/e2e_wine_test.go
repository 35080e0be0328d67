//go:build linux

// The Windows agent at runtime: argus-agent.exe under Wine (testenv.NewWine)
// against the Linux server, driven like any agent. What Wine shows and
// what it cannot (README "Honest limits"): CreateProcess with a new
// process group, named job objects and their termination, exit codes and
// output are Wine's real implementations; the CTRL_BREAK a stop sends
// first does not end the tree under Wine 8, so a stop there ends by
// terminating the job after the grace period.

package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// wineAgent is a registered Windows agent under Wine, running.
type wineAgent struct {
	spec  testenv.AgentSpec
	id    string
	agent *testenv.Agent
	host  string // its hostname, as the server lists it
}

// startWineAgent registers and starts argus-agent.exe under Wine.
func (e *env) startWineAgent() *wineAgent {
	e.t.Helper()
	w := testenv.NewWine(e.t, e.Dir)
	spec := w.Spec(filepath.Join(e.Dir, "winhome"), "--heartbeat-interval", "1s", "--poll-wait", "5s", "--grace-period", "2s")
	id, err := e.server.RegisterWith(context.Background(), spec, e.token)
	if err != nil {
		e.t.Fatal(err)
	}
	a := &wineAgent{spec: spec, id: id, agent: e.StartAgent(e.server, spec, id, e.user)}
	agents, err := e.user.Agents(context.Background(), client.ListOptions{})
	if err != nil || len(agents.Agents) != 1 || agents.Agents[0].OS != "windows" {
		e.t.Fatalf("the Windows agent as the server lists it: %+v (%v)", agents, err)
	}
	a.host = agents.Agents[0].Hostname
	return a
}

// cmdBatch records a cmd.exe line to run on the Windows agent's host.
func (e *env) cmdBatch(a *wineAgent, line string) string {
	e.t.Helper()
	c, err := e.user.CreateBatch(context.Background(), api.CreateBatchRequest{Project: "win", Name: "cmd",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Shell: line}, Cwd: testenv.WindowsPath(e.Dir), Host: a.host}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func TestTheWindowsAgentUnderWine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startWineAgent()
	batch := func(line string) string { t.Helper(); return e.cmdBatch(a, line) }

	// A cmd line that prints and exits 3: the code and the output arrive.
	exit3 := e.rerun(batch("echo hello from wine & exit 3"))
	r := e.waitEnded(exit3, time.Minute)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 3 || r.PID == 0 {
		t.Fatalf("cmd /c ... exit 3 under Wine: %+v", r)
	}
	if out := e.completeLog(exit3); !strings.Contains(out, "hello from wine") {
		t.Fatalf("its output: %q", out)
	}

	// A tree (cmd and its ping) that would run two minutes: Stop ends the
	// whole job after the grace period, and the run says stopped.
	const marker = "ping -n 117 127.0.0.1" // this test's own command line
	tree := e.rerun(batch("echo start & " + marker))
	running := e.waitStatus(tree, api.RunRunning)
	if running.PID == 0 {
		t.Fatalf("the tree's run has no PID: %+v", running)
	}
	e.WaitFor(30*time.Second, "cmd and its ping running under Wine", func() bool { return len(liveWith(marker)) >= 2 })
	e.stop(tree, "2s")
	stopped := e.waitStopped(tree)
	// In Windows' words: the job terminated (or CTRL_BREAK honoured), not
	// a POSIX signal.
	if stopped.Status != api.RunStopped || stopped.StopOutcome == "" ||
		(stopped.Signal != api.EndJobTerminated && stopped.Signal != api.EndCtrlBreak) {
		t.Fatalf("the stopped tree: %+v", stopped)
	}
	e.WaitFor(20*time.Second, "every process of the tree gone", func() bool { return len(liveWith(marker)) == 0 })
	if out := e.completeLog(tree); !strings.Contains(out, "start") {
		t.Fatalf("the stopped tree's output: %q", out)
	}
}

// completeLog reads a run's output once the server has all of it (the
// agent ships it beside the exit report, in its own time).
func (e *env) completeLog(runID string) string {
	e.t.Helper()
	var out string
	e.WaitFor(30*time.Second, "the complete output of run "+runID, func() bool {
		l, err := e.user.RunLog(context.Background(), runID, 0, time.Second)
		if err != nil {
			return false
		}
		out = string(l.Data)
		return l.Complete
	})
	return out
}

// liveWith lists the live processes (zombies are dead) whose command line
// holds s: under Wine every Windows process is a Linux one.
func liveWith(s string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), s) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 0 && fields[0] == "Z" {
			continue
		}
		var pid int
		for _, c := range d.Name() {
			pid = pid*10 + int(c-'0')
		}
		pids = append(pids, pid)
	}
	return pids
}

// TestWindowsUnitTestsUnderWine runs the agent side's tests built for
// Windows under Wine: agent/internal/proc (job names, creation flags,
// CTRL_BREAK targets, filetime identity, exit words, command lines), the
// agent's journal, its CLI (flags, config file, log file), the token
// cache, the atomic file write and the client. Their temp dirs come from
// internal/tempdir, whose cleanup Wine can serve; what Wine does not
// emulate is skipped there, saying so (ARGUS_UNDER_WINE).
func TestWindowsUnitTestsUnderWine(t *testing.T) {
	t.Parallel()
	w := testenv.NewWine(t, t.TempDir())
	for _, pkg := range []string{"./agent/internal/proc", "./agent", "./cmd/argus-agent", "./token", "./internal/atomicfile", "./client"} {
		t.Run(pkg, func(t *testing.T) {
			r := w.RunTests(t, pkg)
			if r.Code != 0 || !strings.Contains(r.Stdout, "\nPASS") || strings.Count(r.Stdout, "--- PASS") < 3 {
				t.Fatalf("%s's Windows tests under Wine: %s", pkg, r)
			}
		})
	}
}

// TestTheWindowsAgentReattachesUnderWine: an agent killed while its run
// runs, started again, finds the run by its job object and stops it.
func TestTheWindowsAgentReattachesUnderWine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startWineAgent()
	first := a.agent
	// The tree is found by its ping count, unique to this test process:
	// another process running this test at once (two suites side by side,
	// or one left by a killed run) must not count as this one's tree.
	ping := fmt.Sprintf("ping -n %d 127.0.0.1", 118+os.Getpid()%800)
	b := e.cmdBatch(a, "echo start & "+ping)
	run := e.rerun(b)
	e.waitStatus(run, api.RunRunning)
	e.WaitFor(30*time.Second, "cmd and its ping running", func() bool { return len(liveWith(ping)) >= 2 })
	first.Proc.Kill()
	e.WaitExit(first.Proc, 30*time.Second)
	if len(liveWith(ping)) < 2 {
		t.Fatal("the run died with its agent")
	}
	e.StartAgent(e.server, a.spec, a.id, e.user)
	e.stop(run, "2s")
	stopped := e.waitStopped(run)
	if stopped.Status != api.RunStopped {
		t.Fatalf("the run stopped by the restarted agent: %+v", stopped)
	}
	e.WaitFor(20*time.Second, "every process of the tree gone", func() bool { return len(liveWith(ping)) == 0 })
}
