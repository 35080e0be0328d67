package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// testBatchFilters: batches and runs narrowed by project and by origin
// host, alone and together.
func testBatchFilters(t *testing.T, f *fixture) {
	alice := f.user("alice")
	agent := f.agent(alice, "ag-1", "gpu1")
	onGPU1 := f.batch(alice, "vision", "b-gpu1", t0)
	other := store.Batch{ID: "b-cpu7", OwnerID: alice.ID, Project: "nlp", Name: "cpu", Snapshot: snapshot(), CreatedAt: t0.Add(time.Second)}
	other.Snapshot.Host = "cpu7"
	f.must(f.s.CreateBatch(f.ctx, other))
	f.rerun(onGPU1, agent, "r-gpu1", t0.Add(time.Minute))
	f.rerun(other, agent, "r-cpu7", t0.Add(2*time.Minute))

	page := store.Page{Limit: 10}
	for _, c := range []struct {
		f    store.BatchFilter
		want []string
	}{
		{store.BatchFilter{}, []string{"b-cpu7", "b-gpu1"}},
		{store.BatchFilter{Host: "gpu1"}, []string{"b-gpu1"}},
		{store.BatchFilter{Host: "GPU1"}, []string{"b-gpu1"}},
		{store.BatchFilter{Project: "nlp"}, []string{"b-cpu7"}},
		{store.BatchFilter{Project: "nlp", Host: "gpu1"}, nil},
	} {
		got, _, err := f.s.ListBatches(f.ctx, alice.ID, c.f, page)
		f.must(err)
		if g := ids(got, batchID); !slices.Equal(g, c.want) {
			t.Errorf("ListBatches(%+v) = %q, want %q", c.f, g, c.want)
		}
	}
	runs, _, err := f.s.ListRunsForUser(f.ctx, alice.ID, store.RunFilter{Host: "cpu7"}, page)
	f.must(err)
	if len(runs) != 1 || runs[0].ID != "r-cpu7" {
		t.Errorf("ListRunsForUser(host cpu7) = %d runs, want r-cpu7 alone", len(runs))
	}
}

// testBatchRuns: a run count and the newest run per batch; batches
// without runs are absent.
func testBatchRuns(t *testing.T, f *fixture) {
	alice := f.user("alice")
	agent := f.agent(alice, "ag-1", "gpu1")
	busy := f.batch(alice, "vision", "b-busy", t0)
	idle := f.batch(alice, "vision", "b-idle", t0)
	for i, id := range []string{"r-1", "r-2", "r-3"} {
		f.rerun(busy, agent, id, t0.Add(time.Duration(i)*time.Minute))
	}
	got, err := f.s.BatchRuns(f.ctx, []string{busy.ID, idle.ID, "b-unknown"})
	f.must(err)
	if br, ok := got[busy.ID]; !ok || br.Count != 3 || br.Last.ID != "r-3" {
		t.Errorf("BatchRuns(busy) = %+v, want 3 runs, newest r-3", got[busy.ID])
	}
	if _, ok := got[idle.ID]; ok || len(got) != 1 {
		t.Errorf("BatchRuns lists %d batches, want the busy one only", len(got))
	}
}

// testHostsWithoutAgent: the hosts of a user's own batches with no agent
// of theirs, in order; others' batches and agents do not count.
func testHostsWithoutAgent(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	f.agent(alice, "ag-1", "GPU1") // names her batches' gpu1: case does not count
	f.agent(bob, "ag-b", "gpu9")
	for i, host := range []string{"gpu1", "gpu9", "gpu3", "GPU3", "cpu2", ""} { // "": recorded where no host was known
		b := store.Batch{ID: "b-" + host + string(rune('a'+i)), OwnerID: alice.ID, Project: "vision", Name: host, Snapshot: snapshot(), CreatedAt: t0}
		b.Snapshot.Host = host
		f.must(f.s.CreateBatch(f.ctx, b))
	}
	got, err := f.s.HostsWithoutAgent(f.ctx, alice.ID, 10)
	f.must(err)
	lower := make([]string, len(got))
	for i, h := range got {
		lower[i] = strings.ToLower(h) // gpu3 or GPU3: one of the spellings, once
	}
	if want := []string{"cpu2", "gpu3", "gpu9"}; !slices.Equal(lower, want) {
		t.Errorf("HostsWithoutAgent(alice) = %q, want %q", got, want)
	}
	if got, err := f.s.HostsWithoutAgent(f.ctx, alice.ID, 1); err != nil || len(got) != 1 {
		t.Errorf("HostsWithoutAgent(alice, limit 1) = %q, %v", got, err)
	}
	if got, err := f.s.HostsWithoutAgent(f.ctx, bob.ID, 10); err != nil || len(got) != 0 {
		t.Errorf("HostsWithoutAgent(bob) = %q, %v; want none (he recorded nothing)", got, err)
	}
}

// testCommandCounts: unacked commands per agent and state; acked ones and
// agents with none are left out.
func testCommandCounts(t *testing.T, f *fixture) {
	alice := f.user("alice")
	busy, idle := f.agent(alice, "ag-busy", "gpu1"), f.agent(alice, "ag-idle", "gpu2")
	b := f.batch(alice, "vision", "b-1", t0)
	f.rerun(b, busy, "r-1", t0)
	f.rerun(b, busy, "r-2", t0.Add(time.Second))
	f.running(b, busy, "r-3", 42) // delivered and acked: not counted
	f.rerun(b, busy, "r-4", t0.Add(2*time.Second))
	f.deliver(busy, "cmd-r-4", t0.Add(3*time.Second)) // delivers r-1, r-2 and r-4 alike
	got, err := f.s.CommandCounts(f.ctx, []string{busy.ID, idle.ID})
	f.must(err)
	if len(got) != 1 || got[busy.ID][store.CmdDelivered] != 3 || got[busy.ID][store.CmdQueued] != 0 {
		t.Fatalf("CommandCounts = %v, want ag-busy with 3 delivered", got)
	}
	f.rerun(b, busy, "r-5", t0.Add(4*time.Second))
	got, err = f.s.CommandCounts(f.ctx, []string{busy.ID})
	f.must(err)
	if got[busy.ID][store.CmdQueued] != 1 || got[busy.ID][store.CmdDelivered] != 3 {
		t.Fatalf("CommandCounts after one more rerun = %v, want 1 queued and 3 delivered", got)
	}
}
