//go:build linux

package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// treeScript starts a child and a grandchild and records their PIDs.
const treeScript = `sleep 300 & echo $! > child.pid
sh -c 'sleep 300 & echo $! > grandchild.pid; wait' &
echo started; wait`

func TestRegisterCachesAPrivateAgentToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	path := token.CachePath(home, "")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %o, want 600", st.Mode().Perm())
	}
	c, err := token.LoadCache(path)
	if err != nil || !strings.HasPrefix(c.Token, "ag_live_") {
		t.Fatalf("cache = %+v, %v", c, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.Start(testenv.Spec{Argv: []string{e.Bin(testenv.AgentBin), "--home", home}})
	// 78, like a rejected token: restarting cannot fix a file mode.
	if code := e.exit(p, 10*time.Second); code != 78 || !strings.Contains(p.Output(), "chmod 600") {
		t.Fatalf("agent with a 0644 token file: exit %d, output %q", code, p.Output())
	}
}

func TestRerunStartsTheTreeInItsOwnGroupAndStopEndsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.startAgent(e.agentHome(""))
	id, cwd := e.batch(treeScript)
	run := e.waitStatus(e.rerun(id), api.RunRunning)
	child, grandchild := readPID(t, filepath.Join(cwd, "child.pid")), readPID(t, filepath.Join(cwd, "grandchild.pid"))
	if pgidOf(t, run.PID) != run.PID {
		t.Fatalf("run pgid %d != its pid %d", pgidOf(t, run.PID), run.PID)
	}
	if pgidOf(t, run.PID) == pgidOf(t, agent.PID()) {
		t.Fatal("run shares the agent's process group")
	}
	for _, pid := range []int{run.PID, child, grandchild} {
		if !alive(pid) {
			t.Fatalf("process %d of the tree is not alive", pid)
		}
	}
	// Clean stop: sh and sleep die of SIGTERM, no SIGKILL needed.
	e.stop(run.ID, "5s")
	r := e.waitStopped(run.ID)
	if r.Signal != "SIGTERM" || r.StopOutcome != api.StopTerminated {
		t.Fatalf("stopped run = %+v, want SIGTERM and terminated", r)
	}
	for _, pid := range []int{run.PID, child, grandchild} {
		if alive(pid) {
			t.Fatalf("process %d survived the stop", pid)
		}
	}
}

// stubbornScript is a tree that ignores SIGTERM (the children inherit the
// ignored signal), while the leader, once it has printed "started", notes
// that SIGTERM arrived and keeps going, so only SIGKILL ends it.
const stubbornScript = `trap '' TERM
sleep 300 & echo $! > child.pid
sh -c 'sleep 300 & echo $! > grandchild.pid; wait' &
trap 'echo term >> term.txt' TERM
echo started
while :; do sleep 1; done`

// stopStubborn stops a stubborn tree and returns the time from the stop
// request to the whole tree being gone, and the run. The agent sends
// SIGTERM after the request and SIGKILL a grace period after that, so the
// tree cannot be gone sooner than the grace period after the request (a
// time the test itself takes, unlike anything the loaded tree could note).
func stopStubborn(t *testing.T, e *env, req api.StopRequest) (time.Duration, api.Run) {
	t.Helper()
	id, cwd := e.batch(stubbornScript)
	run := e.waitStatus(e.rerun(id), api.RunRunning)
	e.waitOutput(run.ID, "started") // its SIGTERM trap is set
	tree := []int{run.PID, readPID(t, filepath.Join(cwd, "child.pid")), readPID(t, filepath.Join(cwd, "grandchild.pid"))}
	asked := time.Now()
	if _, err := e.user.Stop(context.Background(), run.ID, req); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the tree to die", func() bool {
		for _, pid := range tree {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	died := time.Now()
	if _, err := os.Stat(filepath.Join(cwd, "term.txt")); err != nil {
		t.Fatalf("the leader never got SIGTERM before it was killed: %v", err)
	}
	return died.Sub(asked), e.waitStopped(run.ID)
}

// killSlack is how late after its grace period (counted from the stop
// request) a stubborn tree may die. SIGKILL before the grace period ends is
// never allowed; the upper bound only has to tell the grace period in
// force from the others a bug would apply (the agent's 30s, the built-in
// 10s), and leaves a loaded machine running the suites in parallel a few
// seconds for the stop to reach the agent.
const killSlack = 3 * time.Second

func TestStopKillsATreeThatIgnoresSIGTERMAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgentGrace(e.agentHome(""), "30s") // the command's own 1s wins
	grace := time.Second
	elapsed, r := stopStubborn(t, e, api.StopRequest{GracePeriod: grace.String()})
	if elapsed < grace || elapsed >= grace+killSlack {
		t.Fatalf("tree died %v after the stop request, want within [%v, %v)", elapsed, grace, grace+killSlack)
	}
	if r.Signal != "SIGKILL" || r.StopOutcome != api.StopKilled {
		t.Fatalf("stopped run = %+v, want SIGKILL and killed", r)
	}
}

func TestStopUsesTheAgentsGracePeriodByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome("")) // --grace-period 2s
	grace := 2 * time.Second
	elapsed, r := stopStubborn(t, e, api.StopRequest{})
	if elapsed < grace || elapsed >= grace+killSlack {
		t.Fatalf("tree died %v after the stop request, want within [%v, %v)", elapsed, grace, grace+killSlack)
	}
	if r.StopOutcome != api.StopKilled {
		t.Fatalf("stopped run = %+v", r)
	}
}

func TestStopSweepsProcessesThatLeftTheGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome(""))
	// The escapee ignores SIGTERM: the supervisor, which ends what a run
	// leaves when its main process ends, asks it politely in vain, and
	// only the stop's sweep (SIGKILL to what carries the run's id) ends it.
	id, cwd := e.batch(`setsid sh -c "trap '' TERM; exec sleep 300" & echo $! > escaped.pid; exec sleep 300`)
	run := e.waitStatus(e.rerun(id), api.RunRunning)
	escaped := readPID(t, filepath.Join(cwd, "escaped.pid"))
	waitFor(t, 5*time.Second, "the escapee in its own session", func() bool {
		g, err := syscall.Getpgid(escaped)
		return err == nil && g == escaped
	})
	e.stop(run.ID, "5s")
	r := e.waitStopped(run.ID)
	if r.StopOutcome != api.StopKilled {
		t.Fatalf("after the stop: run %+v (want killed: the sweep had to kill)", r)
	}
	// SIGKILL is delivered asynchronously: on a loaded machine the escapee
	// may still be on its way out when the outcome is reported.
	waitFor(t, 5*time.Second, "the escapee killed by the sweep", func() bool { return !alive(escaped) })
}

func TestExitCodeAndOutputTailAreReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome(""))
	id, _ := e.batch("echo line one; echo line two >&2; exit 3")
	r := e.waitEnded(e.rerun(id), 20*time.Second)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 3 ||
		!strings.Contains(r.OutputTail, "line one\n") || !strings.Contains(r.OutputTail, "line two\n") {
		t.Fatalf("run = %+v", r)
	}
}

func TestRunEnvironmentHoldsNoToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome(""))
	id, cwd := e.batch("env > env.txt")
	run := e.waitStatus(e.rerun(id), api.RunExited)
	data, err := os.ReadFile(filepath.Join(cwd, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	env := string(data)
	for _, bad := range []string{"em_live_", "ag_live_", "ARGUS_TOKEN", "SECRET_URL"} {
		if strings.Contains(env, bad) {
			t.Fatalf("run environment holds %q:\n%s", bad, env)
		}
	}
	for _, want := range []string{"ARGUS_RUN_ID=" + run.ID, "ARGUS_BATCH_ID=" + id, "ARGUS_PROP_TEAM=vision", "PATH=/usr/bin:/bin"} {
		if !strings.Contains(env, want+"\n") {
			t.Fatalf("run environment lacks %q:\n%s", want, env)
		}
	}
}

func TestRevokedTokenEndsTheAgentWithItsExitCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	agent := e.startAgent(home)
	c, err := token.LoadCache(token.CachePath(home, ""))
	if err != nil {
		t.Fatal(err)
	}
	e.Revoke(e.server, c.Token)
	if code := e.exit(agent, 15*time.Second); code != 78 {
		t.Fatalf("agent exit code %d, want 78", code)
	}
	if !strings.Contains(agent.Output(), "token rejected: run argus-agent --reregister") {
		t.Fatalf("agent output lacks the token-rejected line:\n%s", agent.Output())
	}
}

// journalRecords reads the agent's journal as raw JSON objects.
func journalRecords(t *testing.T, home string) []map[string]any {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(home, "state", "_default", "journal", "*.json"))
	var out []map[string]any
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestAChildHoldingStdoutDoesNotHoldTheExit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome(""))
	id, _ := e.batch("sleep 300 & echo bye; exit 0") // the sleep keeps the output open
	runID := e.rerun(id)
	t.Cleanup(func() {
		for _, pid := range pidsOfRun(runID) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	r := e.waitEnded(runID, 10*time.Second)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 0 || !strings.Contains(r.OutputTail, "bye") {
		t.Fatalf("run = %+v", r)
	}
}

func TestSIGTERMStopsTheAgentPromptlyAndLeavesRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.startAgent(e.agentHome(""))
	id, _ := e.batch("exec sleep 300")
	run := e.waitStatus(e.rerun(id), api.RunRunning)
	t.Cleanup(func() { syscall.Kill(run.PID, syscall.SIGKILL) })
	start := time.Now()
	if err := agent.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.exit(agent, 5*time.Second); code != 0 {
		t.Fatalf("agent exit code after SIGTERM: %d", code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("agent took %v to stop", d)
	}
	if !alive(run.PID) {
		t.Fatal("the run died with the agent")
	}
}

func TestASecondAgentOnTheSameIdentityIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	e.startAgent(home)
	second := e.Start(testenv.Spec{Argv: []string{e.Bin(testenv.AgentBin), "--home", home}, Env: []string{"ARGUS_TOKEN="}})
	if code := e.exit(second, 10*time.Second); code != 1 || !strings.Contains(second.Output(), "already running") {
		t.Fatalf("second agent: exit %d, output %q", code, second.Output())
	}
}
