package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// testRetention: runs ended before the cut go with their output and
// commands, a chunk at a time, oldest first; running runs, runs ended
// after the cut and batches that still have runs stay; then old batches
// left without runs go.
func testRetention(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	old := f.batch(alice, "vision", "b-old", t0)
	kept := f.batch(alice, "vision", "b-kept", t0)
	empty := f.batch(alice, "vision", "b-empty", t0)
	late := f.batch(alice, "vision", "b-late", t0.Add(3*time.Hour))
	end := func(b store.Batch, runID string, at time.Time) {
		t.Helper()
		f.running(b, a, runID, 100)
		f.appendLog(a, runID, 0, "epoch 1\n", 0)
		_, err := f.s.ReportExit(f.ctx, a.ID, runID, api.ExitReport{ExitCode: ptr(0), EndedAt: at})
		f.must(err)
	}
	for i := range 3 {
		end(old, fmt.Sprintf("r-old-%d", i), t0.Add(time.Duration(i)*time.Minute))
	}
	end(kept, "r-new", t0.Add(2*time.Hour))
	f.running(kept, a, "r-running", 200)
	cut := t0.Add(time.Hour)

	p, err := f.s.PruneRuns(f.ctx, cut, 2) // a chunk: the two oldest
	f.must(err)
	if p.Runs != 2 || p.Commands != 2 || p.LogPieces != 2 {
		t.Fatalf("PruneRuns(limit 2) = %+v, want 2 runs, their 2 commands and 2 log pieces", p)
	}
	if _, err := f.s.Run(f.ctx, "r-old-0"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the oldest run after pruning: %v, want not found", err)
	}
	if _, err := f.s.Run(f.ctx, "r-old-2"); err != nil {
		t.Fatalf("the third old run went with a chunk of two: %v", err)
	}
	p, err = f.s.PruneRuns(f.ctx, cut, 100)
	f.must(err)
	if p.Runs != 1 {
		t.Fatalf("the second sweep = %+v, want the last old run", p)
	}
	if p, err := f.s.PruneRuns(f.ctx, cut, 100); err != nil || p.Runs != 0 {
		t.Fatalf("a sweep with nothing old = %+v, %v", p, err)
	}
	for _, id := range []string{"r-new", "r-running"} {
		if _, err := f.s.Run(f.ctx, id); err != nil {
			t.Errorf("run %s, ended after the cut or running, went: %v", id, err)
		}
	}
	if l := f.readLog("r-new", 0, 100); string(l.Data) != "epoch 1\n" {
		t.Errorf("the kept run's output = %q", l.Data)
	}

	n, err := f.s.PruneBatches(f.ctx, cut, 100)
	f.must(err)
	if n != 2 { // b-old (its runs went) and b-empty; not b-kept (runs), not b-late (new)
		t.Fatalf("PruneBatches = %d, want 2", n)
	}
	for id, want := range map[string]bool{old.ID: false, empty.ID: false, kept.ID: true, late.ID: true} {
		_, err := f.s.Batch(f.ctx, id)
		if got := err == nil; got != want {
			t.Errorf("batch %s kept = %v (%v), want %v", id, got, err, want)
		}
	}
}
