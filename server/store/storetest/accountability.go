package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// wantAccount fails unless r names who asked for it and its stop.
func wantAccount(t *testing.T, what string, r store.Run, requested, stopped, reason string) {
	t.Helper()
	if r.RequestedBy != requested || r.StoppedBy != stopped || r.StopReason != reason {
		t.Errorf("%s: requested_by %q, stopped_by %q, stop_reason %q; want %q, %q, %q",
			what, r.RequestedBy, r.StoppedBy, r.StopReason, requested, stopped, reason)
	}
}

// stopBy is stop command id for r, asked for by user with reason.
func stopBy(r store.Run, id, user, reason string, at time.Time) store.Command {
	c := stopCmd(r, id, at)
	c.Payload.Stop.StoppedBy, c.Payload.Stop.Reason = user, reason
	return c
}

// testAccountability: a run keeps who asked for it and who asked for its
// stop and why, through every later change of the run, in every read.
func testAccountability(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	c := rerunCmd(b, a, "r-1", t0)
	c.Payload.Rerun.RequestedBy = "bob"
	f.must(f.s.QueueRerun(f.ctx, store.Run{ID: "r-1", BatchID: b.ID, AgentID: a.ID, CreatedAt: t0, RequestedBy: "bob"}, c))
	wantAccount(t, "queued run", f.run("r-1"), "bob", "", "")
	samePayload(t, "rerun payload", f.command(c.ID).Payload, c.Payload)

	f.deliver(a, c.ID, t0.Add(time.Second))
	_, _, err := f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 4242}, t0.Add(time.Second))
	f.must(err)
	r := f.run("r-1")
	wantAccount(t, "running run", r, "bob", "", "")

	// Multi-byte text at the length limit comes back whole.
	reason := strings.Repeat("é", api.MaxStopReason-4) + " 日本語"
	stop := stopBy(r, "stop-1", "alice", reason, t0.Add(time.Hour))
	got, err := f.s.QueueStop(f.ctx, r.ID, stop)
	f.must(err)
	wantAccount(t, "QueueStop's answer", got, "bob", "alice", reason)
	wantAccount(t, "stopping run", f.run(r.ID), "bob", "alice", reason)
	samePayload(t, "stop payload", f.command(stop.ID).Payload, stop.Payload)

	// The stop fails: running again, and still saying who tried and why.
	f.deliver(a, stop.ID, t0.Add(time.Hour))
	_, _, err = f.s.AckCommand(f.ctx, a.ID, stop.ID, api.AckRequest{Error: "EPERM"}, t0.Add(time.Hour))
	f.must(err)
	wantAccount(t, "run after a failed stop", f.run(r.ID), "bob", "alice", reason)

	// The next stop names nobody and gives no reason: it replaces both,
	// and a refused stop changes neither.
	f.deliveredStop(a, f.run(r.ID), "stop-2", t0.Add(2*time.Hour))
	_, err = f.s.QueueStop(f.ctx, r.ID, stopBy(f.run(r.ID), "stop-3", "carol", "again", t0))
	wantErr(t, "QueueStop of a stopping run", err, store.ErrConflict)
	wantAccount(t, "run after a plain stop", f.run(r.ID), "bob", "", "")

	ended, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{Signal: "SIGTERM", EndedAt: t0.Add(3 * time.Hour)})
	f.must(err)
	if ended.Status != api.RunStopped {
		t.Fatalf("run after exit = %+v, want stopped", ended)
	}
	wantAccount(t, "stopped run", ended, "bob", "", "")
	wantListed(t, f, a, "r-1", "bob", "", "")

	// A system stop of another run records its word.
	r2 := f.running(b, a, "r-2", 77)
	_, err = f.s.QueueStop(f.ctx, r2.ID, stopBy(r2, "stop-4", "", api.StopReasonTimeout, t0.Add(time.Hour)))
	f.must(err)
	wantAccount(t, "run stopped by the system", f.run(r2.ID), "", "", api.StopReasonTimeout)
	wantListed(t, f, a, "r-2", "", "", api.StopReasonTimeout)
}

// wantListed checks both run lists show run id's account as Run does.
func wantListed(t *testing.T, f *fixture, a store.Agent, id, requested, stopped, reason string) {
	t.Helper()
	b := f.run(id).BatchID
	batchPage, _, err := f.s.ListRunsForUser(f.ctx, a.UserID, store.RunFilter{BatchID: b}, store.Page{Limit: 100})
	f.must(err)
	all, _, err := f.s.ListRunsForUser(f.ctx, a.UserID, store.RunFilter{}, store.Page{Limit: 100})
	f.must(err)
	for name, list := range map[string][]store.Run{"the batch's runs": batchPage, "all runs": all} {
		found := false
		for _, r := range list {
			if r.ID == id {
				found = true
				wantAccount(t, name+" "+id, r, requested, stopped, reason)
			}
		}
		if !found {
			t.Errorf("%s lacks run %s", name, id)
		}
	}
}
