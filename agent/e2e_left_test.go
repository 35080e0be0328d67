//go:build linux

package agent_test

import (
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// TestNothingOfARunOutlivesIt: a run whose main process exits 0 while a
// background job of its own goes on (one that ignores SIGTERM here) ends
// exited 0, records that it left a process, and that process is gone: the
// agent ended it (SIGTERM, its grace period, SIGKILL).
func TestNothingOfARunOutlivesIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgentGrace(e.agentHome(""), "500ms")
	id, _ := e.batch(`(trap '' TERM; exec sleep 120) & sleep 0.3; exit 0`)
	runID := e.rerun(id)
	r := e.waitEnded(runID, 20*time.Second)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 0 || r.LeftProcesses != 1 {
		t.Fatalf("run that left a background job = %+v; want exited 0 with left_processes 1", r)
	}
	if pids := pidsOfRun(runID); len(pids) != 0 {
		t.Fatalf("processes %v of run %s outlived its reported end", pids, runID)
	}
}
