package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// expiring queues a run of b on a at at whose rerun expires at deadline.
func (f *fixture) expiring(b store.Batch, a store.Agent, runID string, at, deadline time.Time) store.Command {
	f.t.Helper()
	c := rerunCmd(b, a, runID, at)
	c.Payload.ExpiresAt = &deadline
	f.must(f.s.QueueRerun(f.ctx, store.Run{ID: runID, BatchID: b.ID, AgentID: a.ID, RerunCmdID: c.ID, CreatedAt: at}, c))
	return c
}

func (f *fixture) status(runID string) store.Run {
	f.t.Helper()
	r, err := f.s.Run(f.ctx, runID)
	f.must(err)
	return r
}

func (f *fixture) started(a store.Agent, cmdID string, now time.Time) (api.RunStatus, bool) {
	f.t.Helper()
	r, ok, err := f.s.StartCommand(f.ctx, a.ID, cmdID, now)
	f.must(err)
	return r.Status, ok
}

func testCancelRun(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	at := t0.Add(time.Minute)

	_, queued := f.rerun(b, a, "run-q", t0)
	r, err := f.s.CancelRun(f.ctx, "run-q", "alice", "wrong host", at)
	f.must(err)
	if r.Status != api.RunCancelled || r.EndedAt == nil || f.status("run-q").Status != api.RunCancelled {
		t.Fatalf("cancelled queued run = %+v", r)
	}
	if got := f.status("run-q"); got.StoppedBy != "alice" || got.StopReason != "wrong host" {
		t.Errorf("cancelled run: stopped_by %q, stop_reason %q; want alice, wrong host", got.StoppedBy, got.StopReason)
	}
	sameTimePtr(t, "ended_at", f.status("run-q").EndedAt, &at)
	if got := f.claim(a, at, time.Minute, 0); len(got) != 0 {
		t.Errorf("claim handed out a cancelled rerun: %q", ids(got, cmdID))
	}
	_, err = f.s.CancelRun(f.ctx, "run-q", "alice", "", at)
	wantErr(t, "cancel a cancelled run", err, store.ErrConflict)
	if st, ok := f.started(a, queued.ID, at); ok || st != api.RunCancelled {
		t.Errorf("start of a cancelled rerun = %v, %s", ok, st)
	}

	// Delivered, in the agent's hands: still cancellable, never started.
	_, held := f.rerun(b, a, "run-d", t0)
	f.deliver(a, held.ID, at)
	_, err = f.s.CancelRun(f.ctx, "run-d", "alice", "", at)
	f.must(err)
	if st, ok := f.started(a, held.ID, at); ok || st != api.RunCancelled {
		t.Errorf("start of a delivered, cancelled rerun = %v, %s", ok, st)
	}
	_, _, err = f.s.AckCommand(f.ctx, a.ID, held.ID, api.AckRequest{PID: 5}, at)
	wantErr(t, "ack of a cancelled rerun", err, store.ErrConflict)
	if f.status("run-d").Status != api.RunCancelled {
		t.Errorf("run-d = %+v", f.status("run-d"))
	}

	// Starting: too late to cancel. Running: not queued.
	_, starting := f.rerun(b, a, "run-s", t0)
	f.deliver(a, starting.ID, at)
	if _, ok := f.started(a, starting.ID, at); !ok {
		t.Fatal("start of a delivered rerun said no")
	}
	_, err = f.s.CancelRun(f.ctx, "run-s", "alice", "", at)
	wantErr(t, "cancel a starting run", err, store.ErrStarting)
	f.running(b, a, "run-r", 7)
	_, err = f.s.CancelRun(f.ctx, "run-r", "alice", "", at)
	wantErr(t, "cancel a running run", err, store.ErrConflict)
}

func testStartCommand(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	other := f.agent(alice, "ag-2", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	_, c := f.rerun(b, a, "run-1", t0)
	_, _, err := f.s.StartCommand(f.ctx, a.ID, c.ID, t0)
	wantErr(t, "start of a command never delivered", err, store.ErrConflict)
	f.deliver(a, c.ID, t0.Add(time.Second))
	_, _, err = f.s.StartCommand(f.ctx, other.ID, c.ID, t0)
	wantErr(t, "start of another agent's command", err, store.ErrNotFound)
	for i := range 2 {
		if st, ok := f.started(a, c.ID, t0.Add(2*time.Second)); !ok || st != api.RunQueued {
			t.Fatalf("start #%d = %v, %s; want yes, queued", i+1, ok, st)
		}
	}
	got, err := f.s.Command(f.ctx, c.ID)
	f.must(err)
	if got.State != store.CmdStarting {
		t.Errorf("command state after start = %s", got.State)
	}
	if at, ok, err := f.s.NextLeaseExpiry(f.ctx, a.ID); err != nil || !ok || !at.Equal(t0.Add(time.Second+time.Minute)) {
		t.Errorf("next lease expiry of a starting command = %v, %v, %v", at, ok, err)
	}
	// Its lease ends unacked: redelivered, and still starting.
	again := f.claim(a, t0.Add(2*time.Minute), time.Minute, 0)
	if len(again) != 1 || again[0].ID != c.ID || again[0].State != store.CmdStarting || again[0].Attempts != 2 {
		t.Fatalf("redelivery of a starting command = %+v", again)
	}
	_, _, err = f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 9}, t0.Add(2*time.Minute))
	f.must(err)
	if r := f.status("run-1"); r.Status != api.RunRunning || r.PID != 9 {
		t.Errorf("run after ack = %+v", r)
	}
	if _, ok := f.started(a, c.ID, t0.Add(2*time.Minute)); ok {
		t.Error("start of an acked rerun said yes")
	}
}

func testExpireRuns(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	deadline := t0.Add(time.Minute)
	f.expiring(b, a, "run-q", t0, deadline)
	held := f.expiring(b, a, "run-d", t0, deadline)
	starting := f.expiring(b, a, "run-s", t0, deadline)
	f.rerun(b, a, "run-forever", t0)
	f.deliver(a, held.ID, t0.Add(time.Second))
	if _, ok := f.started(a, starting.ID, t0.Add(time.Second)); !ok {
		t.Fatal("start said no")
	}

	n, err := f.s.ExpireRuns(f.ctx, deadline) // at the deadline: not yet
	f.must(err)
	if n != 0 {
		t.Errorf("%d runs expired at their deadline, want 0", n)
	}
	n, err = f.s.ExpireRuns(f.ctx, deadline.Add(time.Millisecond))
	f.must(err)
	if n != 2 {
		t.Errorf("%d runs expired past the deadline, want 2 (queued and delivered)", n)
	}
	for _, id := range []string{"run-q", "run-d"} {
		r := f.status(id)
		if r.Status != api.RunExpired || r.Error == "" {
			t.Errorf("%s = %+v, want expired with an error", id, r)
		}
		sameTimePtr(t, id+" ended_at", r.EndedAt, &deadline)
	}
	if r := f.status("run-s"); r.Status != api.RunQueued {
		t.Errorf("a starting run expired: %+v", r)
	}
	if st, ok := f.started(a, held.ID, deadline.Add(time.Second)); ok || st != api.RunExpired {
		t.Errorf("start of an expired rerun = %v, %s", ok, st)
	}
	_, _, err = f.s.AckCommand(f.ctx, a.ID, held.ID, api.AckRequest{PID: 3}, deadline.Add(time.Second))
	wantErr(t, "ack of an expired rerun", err, store.ErrConflict)
}

func testClaimExpires(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	deadline := t0.Add(time.Minute)
	late := f.expiring(b, a, "run-2", t0, deadline)
	f.deliver(a, late.ID, t0.Add(time.Second))
	c := f.expiring(b, a, "run-1", t0, deadline)
	// The agent asks to start after the deadline: expired, not started.
	if st, ok := f.started(a, late.ID, deadline.Add(time.Second)); ok || st != api.RunExpired {
		t.Errorf("start past the deadline = %v, %s", ok, st)
	}
	if got := f.claim(a, deadline.Add(time.Second), time.Minute, 0); len(got) != 0 {
		t.Fatalf("claim past the deadline handed out %q", ids(got, cmdID))
	}
	if r := f.status("run-1"); r.Status != api.RunExpired {
		t.Errorf("run-1 after a claim past its deadline = %+v", r)
	}
	got, err := f.s.Command(f.ctx, c.ID)
	f.must(err)
	if got.State != store.CmdExpired {
		t.Errorf("command state = %s, want expired", got.State)
	}
}

func testClaimMaxRuns(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	cmds := f.queueN(a, "r", 3, t0)
	now := t0.Add(time.Hour)
	capped := func(max int, at time.Time) []string {
		t.Helper()
		got, err := f.s.ClaimCommandsCapped(f.ctx, a.ID, max, at, time.Minute, 0)
		f.must(err)
		return ids(got, cmdID)
	}
	sameIDs(t, "claim with max 2", capped(2, now), []string{cmds[0].ID, cmds[1].ID})
	sameIDs(t, "claim with two on their way", capped(2, now), nil)
	w, err := f.s.Waiting(f.ctx, cmds[2].RunID)
	f.must(err)
	if w.Busy != 2 || w.MaxRuns != 2 || w.CmdState != store.CmdQueued || w.ExpiresAt != nil {
		t.Errorf("waiting = %+v, want 2 busy of 2, queued, no deadline", w)
	}
	// Acked, they still hold their slots; a lease ending redelivers one
	// without handing out the third.
	_, _, err = f.s.AckCommand(f.ctx, a.ID, cmds[0].ID, api.AckRequest{PID: 5}, now)
	f.must(err)
	sameIDs(t, "redelivery at the limit", capped(2, now.Add(2*time.Minute)), []string{cmds[1].ID})
	r := f.status(cmds[0].RunID)
	stop := stopCmd(r, "stop-1", now)
	_, err = f.s.QueueStop(f.ctx, r.ID, stop)
	f.must(err)
	sameIDs(t, "a stop at the limit", capped(2, now.Add(2*time.Minute)), []string{stop.ID})
	_, err = f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(0), EndedAt: now})
	f.must(err)
	sameIDs(t, "claim once a run ended", capped(2, now.Add(2*time.Minute)), []string{cmds[2].ID})
	// No limit any more: the stored limit is forgotten too.
	more := f.queueN(a, "s", 1, now)
	sameIDs(t, "claim without a limit", capped(0, now.Add(3*time.Minute)), []string{more[0].ID})
	if w, err = f.s.Waiting(f.ctx, more[0].RunID); err != nil || w.MaxRuns != 0 || w.Busy != 3 {
		t.Errorf("waiting after a claim without limit = %+v, %v; want no limit, 3 busy", w, err)
	}
}

// Concurrent claims (replicas answering the same agent) never hand out
// more reruns than the agent's limit, also while reruns are being queued:
// a claim that skips rows another claim holds (SKIP LOCKED) can still find
// a rerun queued since, and must count the other claim's deliveries.
func testClaimMaxRunsConcurrent(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	const total, workers, limit = 24, 6, 3
	now := t0.Add(time.Hour)
	var mu sync.Mutex
	claimed := map[string]int{}
	queued := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for done := false; !done; {
				select {
				case <-queued:
					done = true // one more round after the last rerun
				default:
				}
				got, err := f.s.ClaimCommandsCapped(f.ctx, a.ID, limit, now, time.Hour, 1)
				if err != nil {
					t.Errorf("concurrent capped claim: %v", err)
					return
				}
				mu.Lock()
				for _, c := range got {
					claimed[c.ID]++
				}
				mu.Unlock()
				// The pace of a poller, not a wait for anything: six
				// claimers in a loop with no pause starved one of them
				// past SQLite's 5 s busy timeout on a loaded CI machine
				// (its busy handler is not fair), which no server does.
				time.Sleep(time.Millisecond)
			}
		})
	}
	for i := range total {
		f.queueN(a, fmt.Sprintf("r%02d", i), 1, t0)
	}
	close(queued)
	wg.Wait()
	if len(claimed) != limit {
		t.Errorf("%d reruns handed out by concurrent claims, want the limit %d: %v", len(claimed), limit, claimed)
	}
}
