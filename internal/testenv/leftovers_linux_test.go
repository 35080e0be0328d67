package testenv

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// A run still going when its test ends, and the agent's supervisor that
// holds it, are found as that test's (and not as another's), and are gone
// before its dir is removed: the run killed, the supervisor exited by
// itself (endLeftovers fails the test when it has to kill one), so the
// removal meets no writer.
func TestAnEnvEndsTheRunsAndSupervisorsItsTestLeaves(t *testing.T) {
	t.Parallel()
	var dir string
	var left leftovers
	t.Run("a run left going", func(t *testing.T) {
		e := New(t)
		dir = e.Dir
		s := e.StartServer(ServerSpec{})
		tok := e.CreateUser(s, "alice")
		user := e.Client(s, tok, client.Options{RetryMax: -1})
		home, id := e.AgentHome(s, tok, "")
		e.StartAgent(s, AgentSpec{Home: home, Args: []string{"--heartbeat-interval", "1s"}}, id, user)
		cwd, err := os.MkdirTemp(e.Dir, "cwd-")
		if err != nil {
			t.Fatal(err)
		}
		host, _ := os.Hostname()
		ctx := context.Background()
		b, err := user.CreateBatch(ctx, api.CreateBatchRequest{Project: "leftovers", EnvSnapshot: api.EnvSnapshot{
			Command: api.CommandLine{Argv: []string{"/bin/sh", "-c", "sleep 600 & wait"}}, Cwd: cwd, Host: host,
			Env: map[string]string{"PATH": "/usr/bin:/bin"}}})
		if err != nil {
			t.Fatal(err)
		}
		q, err := user.Rerun(ctx, b.ID, api.RerunRequest{})
		if err != nil {
			t.Fatal(err)
		}
		// The shell and its sleep.
		e.WaitFor(20*time.Second, "the run's two processes", func() bool { return len(RunPIDs(q.RunID)) == 2 })
		left = findLeftovers(e.Dir)
		for _, pid := range RunPIDs(q.RunID) {
			if !slices.Contains(left, leftover{PID: pid, Role: runRole, Run: q.RunID}) {
				t.Errorf("run process %d is not among this test's: %v", pid, left)
			}
		}
		if !slices.ContainsFunc(left, func(l leftover) bool { return l.Role == supervisorRole }) {
			t.Errorf("no supervisor among this test's processes (does it still carry %s?): %v", EnvDir, left)
		}
		// A dir whose name only begins like this one's is another test's.
		if other := findLeftovers(e.Dir + "0"); !other.empty() {
			t.Errorf("another test's dir is said to hold %v", other)
		}
	})
	// The subtest's cleanups have run, its dir's removal last.
	for _, l := range left {
		if Alive(l.PID) {
			t.Errorf("%s pid %d outlived its test", l.Role, l.PID)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the test's dir is still there: %v", err)
	}
}
