package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// queueN queues n reruns of one batch on agent a, one second apart from
// at, and returns their commands oldest first.
func (f *fixture) queueN(a store.Agent, prefix string, n int, at time.Time) []store.Command {
	f.t.Helper()
	b, err := f.s.Batch(f.ctx, "b-"+a.ID)
	if err != nil {
		owner, err := f.s.UserByID(f.ctx, a.UserID)
		f.must(err)
		b = f.batch(owner, "p-"+a.ID, "b-"+a.ID, t0)
	}
	cmds := make([]store.Command, n)
	for i := range cmds {
		_, cmds[i] = f.rerun(b, a, fmt.Sprintf("%s-%02d", prefix, i), at.Add(time.Duration(i)*time.Second))
	}
	return cmds
}

func (f *fixture) claim(a store.Agent, now time.Time, lease time.Duration, limit int) []store.Command {
	f.t.Helper()
	got, err := f.s.ClaimCommands(f.ctx, a.ID, now, lease, limit)
	f.must(err)
	return got
}

func testQueueStop(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	at := t0.Add(time.Hour)

	_, err := f.s.QueueStop(f.ctx, "r-unknown", store.Command{ID: "stop-0", AgentID: a.ID, Kind: api.KindStop})
	wantErr(t, "QueueStop(unknown run)", err, store.ErrNotFound)

	queued, _ := f.rerun(b, a, "r-queued", t0)
	_, err = f.s.QueueStop(f.ctx, queued.ID, stopCmd(queued, "stop-1", at))
	wantErr(t, "QueueStop(queued run)", err, store.ErrConflict)
	_, err = f.s.Command(f.ctx, "stop-1")
	wantErr(t, "Command of the refused stop", err, store.ErrNotFound)
	if r, _ := f.s.Run(f.ctx, queued.ID); r.Status != api.RunQueued || r.StopCmdID != "" {
		t.Errorf("run after refused stop = %+v, want queued without stop command", r)
	}

	r := f.running(b, a, "r-1", 4242)
	stop := stopCmd(r, "stop-2", at)
	got, err := f.s.QueueStop(f.ctx, r.ID, stop)
	f.must(err)
	if got.ID != r.ID || got.Status != api.RunStopping || got.StopCmdID != stop.ID || got.PID != 4242 {
		t.Errorf("QueueStop = %+v, want run %s stopping by %s with pid 4242", got, r.ID, stop.ID)
	}
	stored, err := f.s.Run(f.ctx, r.ID)
	f.must(err)
	if stored.Status != api.RunStopping || stored.StopCmdID != stop.ID {
		t.Errorf("stored run = %+v, want stopping by %s", stored, stop.ID)
	}
	cmd, err := f.s.Command(f.ctx, stop.ID)
	f.must(err)
	if cmd.State != store.CmdQueued || cmd.Kind != api.KindStop || cmd.RunID != r.ID || cmd.AgentID != a.ID {
		t.Errorf("stop command = %+v", cmd)
	}
	samePayload(t, "stop payload", cmd.Payload, stop.Payload)

	_, err = f.s.QueueStop(f.ctx, r.ID, stopCmd(r, "stop-3", at))
	wantErr(t, "QueueStop(stopping run)", err, store.ErrConflict)
}

func testClaimCommands(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a, other := f.agent(alice, "ag-1", "gpu1"), f.agent(alice, "ag-2", "gpu2")
	cmds := f.queueN(a, "r", 3, t0)
	otherCmds := f.queueN(other, "o", 1, t0)
	lease := 30 * time.Second
	now := t0.Add(time.Hour)

	got := f.claim(a, now, lease, 2)
	sameIDs(t, "first claim", ids(got, cmdID), []string{cmds[0].ID, cmds[1].ID})
	for _, c := range got {
		wantDelivered(t, "claimed "+c.ID, c, 1, now, now.Add(lease))
		stored, err := f.s.Command(f.ctx, c.ID)
		f.must(err)
		wantDelivered(t, "stored "+c.ID, stored, 1, now, now.Add(lease))
	}

	later := now.Add(time.Second)
	got = f.claim(a, later, lease, 10)
	sameIDs(t, "claim within the lease", ids(got, cmdID), []string{cmds[2].ID})
	got = f.claim(a, now.Add(2*time.Second), lease, 10)
	sameIDs(t, "claim with everything leased", ids(got, cmdID), nil)

	// A lease ending exactly now still holds.
	got = f.claim(a, now.Add(lease), lease, 10)
	sameIDs(t, "claim as the first leases end", ids(got, cmdID), nil)

	// A moment later the first two leases have ended, the third (taken a
	// second after them) has not.
	expiry := now.Add(lease + time.Millisecond)
	got = f.claim(a, expiry, lease, 10)
	sameIDs(t, "claim after the first leases ended", ids(got, cmdID), []string{cmds[0].ID, cmds[1].ID})
	for _, c := range got {
		wantDelivered(t, "redelivered "+c.ID, c, 2, expiry, expiry.Add(lease))
	}

	// An acked command is never handed out again.
	_, _, err := f.s.AckCommand(f.ctx, a.ID, cmds[0].ID, api.AckRequest{PID: 1}, expiry)
	f.must(err)
	got = f.claim(a, expiry.Add(time.Hour), lease, 10)
	sameIDs(t, "claim after an ack", ids(got, cmdID), []string{cmds[1].ID, cmds[2].ID})

	got = f.claim(other, now, lease, 10)
	sameIDs(t, "other agent's claim", ids(got, cmdID), []string{otherCmds[0].ID})
}

func wantDelivered(t *testing.T, what string, c store.Command, attempts int, at, until time.Time) {
	t.Helper()
	if c.State != store.CmdDelivered || c.Attempts != attempts || c.Payload.Attempt != attempts {
		t.Errorf("%s: state %q attempts %d payload attempt %d, want delivered, %d",
			what, c.State, c.Attempts, c.Payload.Attempt, attempts)
	}
	sameTimePtr(t, what+" DeliveredAt", c.DeliveredAt, &at)
	sameTimePtr(t, what+" LeaseUntil", c.LeaseUntil, &until)
}

// testClaimConcurrent races claimers on one agent's queue: within one
// lease every command must go to exactly one of them.
func testClaimConcurrent(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	const total, workers = 30, 8
	cmds := f.queueN(a, "r", total, t0)
	now := t0.Add(time.Hour)

	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		errs    []error
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				got, err := f.s.ClaimCommands(f.ctx, a.ID, now, time.Hour, 2)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, c := range got {
					claimed[c.ID]++
				}
				mu.Unlock()
				if err != nil || len(got) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent claim: %v", err)
	}
	for _, c := range cmds {
		if n := claimed[c.ID]; n != 1 {
			t.Errorf("command %s claimed %d times, want once", c.ID, n)
		}
	}
	if len(claimed) != total {
		t.Errorf("%d distinct commands claimed, want %d", len(claimed), total)
	}
}

func testNextLeaseExpiry(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	wantNoLease := func(when string) {
		t.Helper()
		at, ok, err := f.s.NextLeaseExpiry(f.ctx, a.ID)
		f.must(err)
		if ok {
			t.Errorf("NextLeaseExpiry %s = %v, want none", when, at)
		}
	}
	wantNoLease("with no commands")
	cmds := f.queueN(a, "r", 3, t0)
	wantNoLease("with only queued commands")

	now := t0.Add(time.Hour)
	f.claim(a, now, time.Minute, 1)                     // cmds[0] until now+1m
	f.claim(a, now.Add(time.Second), 10*time.Second, 1) // cmds[1] until now+11s
	wantLease := func(when string, want time.Time) {
		t.Helper()
		at, ok, err := f.s.NextLeaseExpiry(f.ctx, a.ID)
		f.must(err)
		if !ok {
			t.Errorf("NextLeaseExpiry %s: none, want %v", when, want)
			return
		}
		sameTime(t, "NextLeaseExpiry "+when, at, want)
	}
	wantLease("after two claims", now.Add(11*time.Second))

	_, _, err := f.s.AckCommand(f.ctx, a.ID, cmds[1].ID, api.AckRequest{PID: 7}, now)
	f.must(err)
	wantLease("after acking the earliest", now.Add(time.Minute))
	_, _, err = f.s.AckCommand(f.ctx, a.ID, cmds[0].ID, api.AckRequest{PID: 8}, now)
	f.must(err)
	wantNoLease("with every delivered command acked")
}

func testLookForWork(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	look := func(when string, at time.Time, want store.Outstanding) {
		t.Helper()
		got, err := f.s.LookForWork(f.ctx, a.ID, at)
		f.must(err)
		if got.Claimable != want.Claimable || got.HasLease != want.HasLease {
			t.Errorf("LookForWork %s = %+v, want %+v", when, got, want)
			return
		}
		if want.HasLease {
			sameTime(t, "LookForWork "+when, got.LeaseEnd, want.LeaseEnd)
		}
	}
	look("with no commands", t0, store.Outstanding{})
	cmds := f.queueN(a, "r", 2, t0)
	look("with queued commands", t0, store.Outstanding{Claimable: true})

	now := t0.Add(time.Hour)
	f.claim(a, now, time.Minute, 1)
	look("with one still queued", now, store.Outstanding{Claimable: true})
	f.claim(a, now.Add(time.Second), 10*time.Second, 1)
	end := now.Add(11 * time.Second)
	look("with both delivered", now.Add(2*time.Second), store.Outstanding{HasLease: true, LeaseEnd: end})
	look("the instant the first lease ends", end, store.Outstanding{HasLease: true, LeaseEnd: end})
	look("once the first lease has ended", end.Add(time.Millisecond), store.Outstanding{Claimable: true})

	for i, c := range cmds {
		_, _, err := f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 7 + i}, now)
		f.must(err)
	}
	look("with every command acked", end.Add(time.Hour), store.Outstanding{})
}

// testReleaseDelivered: a restarted agent's deliveries it does not hold
// are claimable again at once, with their attempt counted; those it holds
// keep their lease.
func testReleaseDelivered(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	cmds := f.queueN(a, "r", 3, t0)
	now := t0.Add(time.Hour)
	if got := f.claim(a, now, time.Hour, 0); len(got) != 3 {
		t.Fatalf("claimed %d, want 3", len(got))
	}
	later := now.Add(time.Second)
	n, err := f.s.ReleaseDelivered(f.ctx, a.ID, []string{cmds[0].ID}, later)
	f.must(err)
	if n != 2 {
		t.Fatalf("released %d, want 2 (all but the one held)", n)
	}
	again := f.claim(a, later, time.Hour, 0)
	if len(again) != 2 || again[0].ID == cmds[0].ID || again[1].ID == cmds[0].ID || again[0].Attempts != 2 {
		t.Fatalf("claimed after the release: %+v; want the two not held, second attempts", again)
	}
	if n, err := f.s.ReleaseDelivered(f.ctx, "agt-other", nil, later); err != nil || n != 0 {
		t.Fatalf("release for another agent: %d, %v; want nothing", n, err)
	}
}
