package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server"
)

// TestRetentionRemovesOldRunsAndNothingElse: with a retention of 2 s and a
// sweep every 100 ms, runs that ended go with their output, then batches
// left without runs; a running run, a run that ended a moment ago, the
// batch holding them, the user and the agent stay, and a metric counts
// what went.
func TestRetentionRemovesOldRunsAndNothingElse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{Retention: 2 * time.Second, RetentionSweep: 100 * time.Millisecond})
	alice := h.user("alice")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	kept, gone := h.batch(alice, "mnist", "gpu-01"), h.batch(alice, "mnist", "gpu-01")
	endWithOutput := func(batchID string) string {
		q := h.started(alice, batchID, agentID, agentTok, 100)
		if r := h.appendLog(agentID, agentTok, q.RunID, 0, []byte("epoch 1\n"), ""); r.code != http.StatusOK {
			t.Fatalf("append output: %d %s", r.code, r.body)
		}
		h.ended(agentID, agentTok, q, 0, "")
		return q.RunID
	}
	oldInKept, oldInGone := endWithOutput(kept), endWithOutput(gone)
	running := h.started(alice, kept, agentID, agentTok, 200).RunID

	ctx := context.Background()
	err := testenv.Poll(ctx, 15*time.Second, func() error {
		for _, id := range []string{oldInKept, oldInGone} {
			if r := h.do("GET", "/api/runs/"+id, alice, nil); r.code != http.StatusNotFound {
				return fmt.Errorf("run %s still there", id)
			}
		}
		if r := h.do("GET", "/api/batches/"+gone, alice, nil); r.code != http.StatusNotFound {
			return fmt.Errorf("batch %s, left without runs, still there", gone)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh := endWithOutput(kept) // ended now: younger than the retention
	if got := h.run(running, alice); got.Status != "running" {
		t.Fatalf("the running run after the sweeps: %+v", got)
	}
	if l := h.readLog(fresh, alice, ""); l.code != http.StatusOK || l.data != "epoch 1\n" {
		t.Fatalf("the fresh run's output: %+v", l)
	}
	if r := h.do("GET", "/api/batches/"+kept, alice, nil); r.code != http.StatusOK {
		t.Fatalf("the batch that still has runs: %d", r.code)
	}
	if r := h.do("GET", "/api/agents", alice, nil); r.code != http.StatusOK || !strings.Contains(string(r.body), agentID) {
		t.Fatalf("the agent after the sweeps: %d %s", r.code, r.body)
	}
	metrics := string(h.expect(http.StatusOK, "GET", "/metrics", "", nil).body)
	for _, want := range []string{`argus_retention_deleted_total{kind="runs"} 2`, `argus_retention_deleted_total{kind="batches"} 1`,
		`argus_retention_deleted_total{kind="log_pieces"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
