//go:build linux

package agent_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// What a service restart (systemctl restart with KillMode=process, a
// launchd reload, an upgrade) does to the agent: SIGTERM, exit, start
// again. The run and its whole tree must live through it, and the new
// agent must still be able to stop the tree.
func TestRunsSurviveAnAgentRestartAndStopStillEndsTheTree(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	first := e.startAgent(home)
	id, cwd := e.batch(treeScript)
	run := e.waitStatus(e.rerun(id), api.RunRunning)
	tree := []int{run.PID, readPID(t, filepath.Join(cwd, "child.pid")), readPID(t, filepath.Join(cwd, "grandchild.pid"))}

	if err := first.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.exit(first, 5*time.Second); code != 0 {
		t.Fatalf("agent exit code after SIGTERM: %d", code)
	}
	for _, pid := range tree {
		if !alive(pid) {
			t.Fatalf("process %d of the run died with the agent", pid)
		}
	}

	e.startAgent(home)
	if r, err := e.user.Run(context.Background(), run.ID); err != nil || r.Status != api.RunRunning {
		t.Fatalf("run after the agent restart = %+v, %v", r, err)
	}
	e.stop(run.ID, "5s")
	r := e.waitStopped(run.ID)
	if r.StopOutcome != api.StopTerminated {
		t.Fatalf("stop after the restart = %+v", r)
	}
	for _, pid := range tree {
		if alive(pid) {
			t.Fatalf("process %d survived the stop after the restart", pid)
		}
	}
}
