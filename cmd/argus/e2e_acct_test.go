//go:build !windows

package main_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// TestAccountabilityEndToEnd, on the real binaries and a real agent
// daemon: bob, a recipient of alice's project, reruns her batch and stops
// it with a reason; `argus status` names him as the one who asked for the
// run and who stopped it, gives the reason, and exits 5 (stopped). A run
// that exits 3 is "failed: exit 3" in `argus runs` and `argus status`,
// which exits 3.
func TestAccountabilityEndToEnd(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	alice, bob := e.createUser(t, "alice"), e.createUser(t, "bob")
	e.serve(t)
	aliceEnv, bobEnv := e.userEnv(alice), e.userEnv(bob)
	home, agentID := e.AgentHome(e.server, alice, "")
	e.StartAgent(e.server, testenv.AgentSpec{Home: home}, agentID, e.client(t, alice))
	long := record(t, e, aliceEnv, "echo started; exec sleep 300")
	failing := record(t, e, aliceEnv, "echo bad input; exit 3")
	wantOK(t, "share", e.argus(t, aliceEnv, "", "share", "mnist", "bob"))

	run := rerunWait(t, e, bobEnv, long)
	if run.RequestedBy != "bob" {
		t.Fatalf("rerun by bob: requested_by %q", run.RequestedBy)
	}
	reason := "GPU needed for alice's deadline run"
	wantOK(t, "stop --reason", e.argus(t, bobEnv, "", "stop", run.ID, "--reason", reason))
	final := awaitEnded(t, e, alice, run.ID)
	if final.Status != api.RunStopped || final.StoppedBy != "bob" || final.StopReason != reason {
		t.Fatalf("run after bob's stop = %+v", final)
	}
	r := e.argus(t, aliceEnv, "", "status", run.ID)
	wantCode(t, "status of a stopped run", r, 5)
	for _, row := range [][]string{
		{"status:", "stopped"}, {"outcome:", "stopped"}, {"requested", "by:", "bob"},
		{"stopped", "by:", "bob"}, append([]string{"stop", "reason:"}, strings.Fields(reason)...),
	} {
		if !hasRow(r.Stdout, row...) {
			t.Fatalf("status lacks %q:\n%s", row, r.Stdout)
		}
	}

	bad := rerunWait(t, e, bobEnv, failing)
	awaitEnded(t, e, alice, bad.ID)
	r = e.argus(t, bobEnv, "", "status", bad.ID)
	wantCode(t, "status of a run that exited 3", r, 3)
	if !hasRow(r.Stdout, "outcome:", "failed:", "exit", "3") {
		t.Fatalf("status of a run that exited 3:\n%s", r.Stdout)
	}
	r = e.argus(t, aliceEnv, "", "runs")
	wantOK(t, "runs", r)
	if !hasRow(r.Stdout, bad.ID, "exited", "failed:", "exit", "3", "bob") || !hasRow(r.Stdout, run.ID, "stopped", "stopped", "bob") {
		t.Fatalf("runs does not mark the failure and the stop:\n%s", r.Stdout)
	}
}

// record records shell as a batch of project mnist, without running it.
func record(t *testing.T, e *e2e, env []string, shell string) string {
	t.Helper()
	r := e.argus(t, env, "", "record", "--no-run", "--project", "mnist", "--", "sh", "-c", shell)
	wantOK(t, "record", r)
	return strings.TrimSpace(r.Stdout)
}

// rerunWait reruns batch and returns the run once the agent started it.
func rerunWait(t *testing.T, e *e2e, env []string, batch string) api.Run {
	t.Helper()
	r := e.argus(t, env, "", "--json", "rerun", batch, "--wait", "--timeout", "20s")
	wantOK(t, "rerun --wait", r)
	var run api.Run
	if err := json.Unmarshal([]byte(r.Stdout), &run); err != nil {
		t.Fatalf("rerun --json: %v\n%s", err, r.Stdout)
	}
	return run
}

// awaitEnded polls the run until it has ended.
func awaitEnded(t *testing.T, e *e2e, tok, id string) api.Run {
	t.Helper()
	cl := e.client(t, tok)
	var run *api.Run
	e.WaitFor(30*time.Second, "run "+id+" to end", func() bool {
		var err error
		run, err = cl.Run(context.Background(), id)
		return err == nil && run.Status.Ended()
	})
	return *run
}
