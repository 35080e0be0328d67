package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// testWebhooks: a run's end becomes one delivery per hook of its project,
// once, however often the ended run is written again; deliveries are
// leased to one claimer at a time, retried, finished and listed.
func testWebhooks(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	other := f.batch(alice, "nlp", "b-2", t0) // a project without hooks
	for _, id := range []string{"wh-1", "wh-2"} {
		f.must(f.s.CreateWebhook(f.ctx, store.Webhook{ID: id, Project: "vision", URL: "https://hooks.example/" + id,
			Secret: "s-" + id, CreatedBy: alice.ID, CreatedAt: t0}))
	}
	hooks, err := f.s.Webhooks(f.ctx, "vision")
	f.must(err)
	if len(hooks) != 2 || hooks[0].ID != "wh-1" || hooks[1].Secret != "s-wh-2" {
		t.Fatalf("Webhooks(vision) = %+v", hooks)
	}

	r1 := f.running(b, a, "r-1", 100)
	f.running(other, a, "r-2", 101)
	// A stop of r-1, delivered before it exits and acked after: the ack
	// writes the ended run again.
	stop := stopCmd(r1, "stop-1", t0.Add(time.Minute))
	_, err = f.s.QueueStop(f.ctx, r1.ID, stop)
	f.must(err)
	f.deliver(a, stop.ID, t0.Add(time.Minute))
	for _, id := range []string{"r-1", "r-2"} {
		_, err := f.s.ReportExit(f.ctx, a.ID, id, api.ExitReport{ExitCode: ptr(3), EndedAt: t0.Add(time.Hour)})
		f.must(err)
	}
	n := 0
	newID := func() string { n++; return fmt.Sprintf("dlv-%d", n) }
	body := func(id string, r store.Run, b store.Batch) ([]byte, error) {
		return []byte(id + " " + r.ID + " " + string(r.Status) + " " + b.Project), nil
	}
	took, err := f.s.ExpandRunEvents(f.ctx, 10, t0.Add(time.Hour), newID, body)
	f.must(err)
	if took != 2 || n != 2 {
		t.Fatalf("ExpandRunEvents took %d runs and made %d deliveries, want 2 runs and 2 deliveries (r-1's project has two hooks)", took, n)
	}
	// The ended run written again (the stop's ack) is not a second end.
	_, _, err = f.s.AckCommand(f.ctx, a.ID, stop.ID, api.AckRequest{Outcome: api.StopTerminated}, t0.Add(time.Hour))
	f.must(err)
	if got := f.run("r-1"); got.StopOutcome != api.StopTerminated || got.EndedAt == nil {
		t.Fatalf("r-1 after the stop's ack = %+v, want ended with the stop's outcome written", got)
	}
	if took, err := f.s.ExpandRunEvents(f.ctx, 10, t0.Add(time.Hour), newID, body); err != nil || took != 0 {
		t.Fatalf("a second expansion took %d (%v), want nothing", took, err)
	}

	now := t0.Add(2 * time.Hour)
	claimed, err := f.s.ClaimDeliveries(f.ctx, now, time.Minute, 10)
	f.must(err)
	if len(claimed) != 2 || claimed[0].URL == "" || claimed[0].Secret == "" || string(claimed[0].Body) != claimed[0].ID+" r-1 stopped vision" {
		t.Fatalf("ClaimDeliveries = %+v", claimed)
	}
	if again, err := f.s.ClaimDeliveries(f.ctx, now, time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("a second claim within the lease got %d (%v), want none", len(again), err)
	}
	retry := now.Add(30 * time.Second)
	f.must(f.s.FinishAttempt(f.ctx, claimed[0].ID, store.Attempt{At: now, State: store.DeliveryPending, NextAt: retry, Status: 503, Error: "503 Service Unavailable"}))
	f.must(f.s.FinishAttempt(f.ctx, claimed[1].ID, store.Attempt{At: now, State: store.DeliveryDelivered, NextAt: now, Status: 204}))
	if got, _ := f.s.ClaimDeliveries(f.ctx, now.Add(time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("a delivery claimed before its retry time: %+v", got)
	}
	got, err := f.s.ClaimDeliveries(f.ctx, retry, time.Minute, 10)
	f.must(err)
	if len(got) != 1 || got[0].ID != claimed[0].ID || got[0].Attempts != 1 || got[0].LastStatus != 503 {
		t.Fatalf("the retry claim = %+v, want the failed delivery with one attempt", got)
	}

	recent, err := f.s.RecentDeliveries(f.ctx, []string{"wh-1", "wh-2"}, 5)
	f.must(err)
	if len(recent["wh-1"])+len(recent["wh-2"]) != 2 {
		t.Fatalf("RecentDeliveries = %+v", recent)
	}
	if n, err := f.s.PruneDeliveries(f.ctx, now.Add(24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneDeliveries = %d, %v; want the delivered one", n, err)
	}
	f.must(f.s.DeleteWebhook(f.ctx, "vision", "wh-1"))
	if err := f.s.DeleteWebhook(f.ctx, "nlp", "wh-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a hook through another project: %v, want not found", err)
	}
	if hooks, _ := f.s.Webhooks(f.ctx, "vision"); len(hooks) != 1 {
		t.Fatalf("after a delete: %+v", hooks)
	}
	// Retention takes a pruned run's end with it.
	if p, err := f.s.PruneRuns(f.ctx, t0.Add(3*time.Hour), 10); err != nil || p.Runs != 2 {
		t.Fatalf("PruneRuns of runs with ends noted = %+v, %v; want both runs", p, err)
	}
}
