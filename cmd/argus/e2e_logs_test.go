//go:build !windows

package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
)

// TestLogsEndToEnd, on the real binaries and a real agent daemon: `argus
// rerun --follow` prints a run's lines as the run writes them (the second
// line is only written once the test has seen the first) and exits with
// the run's exit code; `argus logs` prints the whole output and exits 0,
// `argus logs -f` of the ended run exits with its code at once.
func TestLogsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	alice := e.createUser(t, "alice")
	e.serve(t)
	env := e.userEnv(alice)
	home, agentID := e.AgentHome(e.server, alice, "")
	e.StartAgent(e.server, testenv.AgentSpec{Home: home}, agentID, e.client(t, alice))
	// Under the Env's dir, not a TempDir of its own: the Env ends what a run
	// leaves behind before that dir is removed, and a later TempDir would be
	// removed before that (cleanups run in reverse).
	cwd, err := os.MkdirTemp(e.Dir, "cwd-")
	if err != nil {
		t.Fatal(err)
	}
	r := e.argus(t, env, cwd, "record", "--no-run", "--project", "mnist", "--", "sh", "-c",
		`echo "epoch 1"; while [ ! -f go ] && [ -d "$PWD" ]; do sleep 0.05; done; echo "epoch 2" >&2; exit 3`)
	wantOK(t, "record", r)
	batch := strings.TrimSpace(r.Stdout)

	following := e.Start(testenv.Spec{
		Name: "argus rerun --follow", Argv: []string{e.Bin(testenv.CLIBin), "rerun", batch, "--follow"},
		Env: env, Dir: cwd,
	})
	e.WaitFor(20*time.Second, "the first line through rerun --follow", func() bool {
		return strings.Contains(following.Output(), "epoch 1\n")
	})
	if strings.Contains(following.Output(), "epoch 2") {
		t.Fatal("the second line was printed before the run wrote it")
	}
	if err := os.WriteFile(filepath.Join(cwd, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := e.WaitExit(following, 20*time.Second); code != 3 {
		t.Fatalf("rerun --follow exited %d, want the run's 3; output:\n%s", code, following.Output())
	}
	out := following.Output()
	if !strings.Contains(out, "epoch 1\nepoch 2\n") || !strings.Contains(out, "argus: queued run run_") {
		t.Fatalf("rerun --follow printed:\n%s", out)
	}
	runID := strings.Fields(out[strings.Index(out, "queued run ")+len("queued run "):])[0]
	runID = strings.TrimSuffix(runID, ";")

	logs := e.argus(t, env, "", "logs", runID)
	if logs.Code != 0 || logs.Stdout != "epoch 1\nepoch 2\n" || logs.Stderr != "" {
		t.Fatalf("argus logs: exit %d, stdout %q, stderr %q", logs.Code, logs.Stdout, logs.Stderr)
	}
	followed := e.argus(t, env, "", "logs", "-f", runID)
	if followed.Code != 3 || followed.Stdout != "epoch 1\nepoch 2\n" {
		t.Fatalf("argus logs -f of an ended run: exit %d, stdout %q, stderr %q", followed.Code, followed.Stdout, followed.Stderr)
	}
	missing := e.argus(t, env, "", "logs", "run_nope")
	if missing.Code != 1 || !strings.HasPrefix(missing.Stderr, "argus: ") || strings.Count(missing.Stderr, "\n") != 1 {
		t.Fatalf("argus logs of a missing run: exit %d, stderr %q", missing.Code, missing.Stderr)
	}
}
