package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

func testCreateBatch(t *testing.T, f *fixture) {
	alice := f.user("alice")
	b := f.batch(alice, "vision", "b-argv", t0)
	shell := store.Batch{ID: "b-shell", OwnerID: alice.ID, Project: "vision", Name: "sweep",
		Snapshot:  api.EnvSnapshot{Command: api.CommandLine{Shell: "make train && make eval"}, Cwd: "/w", Host: "gpu2"},
		CreatedAt: t0.Add(time.Second)}
	f.must(f.s.CreateBatch(f.ctx, shell))

	for _, want := range []store.Batch{b, shell} {
		got, err := f.s.Batch(f.ctx, want.ID)
		f.must(err)
		sameTime(t, want.ID+".CreatedAt", got.CreatedAt, want.CreatedAt)
		got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Batch(%s) = %+v, want %+v", want.ID, got, want)
		}
	}

	p, err := f.s.Project(f.ctx, "vision")
	f.must(err)
	if p.Name != "vision" || p.OwnerID != alice.ID || len(p.RecipientIDs) != 0 {
		t.Errorf("Project(vision) = %+v, want a new project owned by %s", p, alice.ID)
	}
	_, err = f.s.Batch(f.ctx, "b-unknown")
	wantErr(t, "Batch(unknown)", err, store.ErrNotFound)
	wantErr(t, "CreateBatch with a taken id", f.s.CreateBatch(f.ctx, b), store.ErrExists)
}

func testCreateBatchForbidden(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	f.batch(alice, "vision", "b-1", t0)

	intruder := store.Batch{ID: "b-bob", OwnerID: bob.ID, Project: "vision", Name: "x",
		Snapshot: snapshot(), CreatedAt: t0}
	wantErr(t, "CreateBatch in another's project", f.s.CreateBatch(f.ctx, intruder), store.ErrForbidden)
	_, err := f.s.Batch(f.ctx, "b-bob")
	wantErr(t, "Batch of the refused batch", err, store.ErrNotFound)

	// A recipient may add batches; the project stays its owner's.
	f.must(f.s.AddRecipient(f.ctx, "vision", bob.ID))
	f.must(f.s.CreateBatch(f.ctx, intruder))
	got, err := f.s.Batch(f.ctx, "b-bob")
	f.must(err)
	if got.OwnerID != bob.ID || got.Project != "vision" {
		t.Errorf("recipient's batch = %+v, want owner %s in vision", got, bob.ID)
	}
	p, err := f.s.Project(f.ctx, "vision")
	f.must(err)
	if p.OwnerID != alice.ID {
		t.Errorf("project owner after a recipient's batch = %s, want %s", p.OwnerID, alice.ID)
	}
}

func testProjects(t *testing.T, f *fixture) {
	alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
	_, err := f.s.Project(f.ctx, "vision")
	wantErr(t, "Project(unknown)", err, store.ErrNotFound)
	wantErr(t, "AddRecipient(unknown project)", f.s.AddRecipient(f.ctx, "vision", bob.ID), store.ErrNotFound)

	f.batch(alice, "vision", "b-1", t0)
	f.must(f.s.AddRecipient(f.ctx, "vision", bob.ID))
	f.must(f.s.AddRecipient(f.ctx, "vision", bob.ID)) // idempotent
	f.must(f.s.AddRecipient(f.ctx, "vision", carol.ID))

	p, err := f.s.Project(f.ctx, "vision")
	f.must(err)
	got := slices.Clone(p.RecipientIDs)
	slices.Sort(got)
	if p.Name != "vision" || p.OwnerID != alice.ID {
		t.Errorf("Project = %+v, want vision owned by %s", p, alice.ID)
	}
	sameIDs(t, "RecipientIDs", got, []string{bob.ID, carol.ID})
}

func testRemoveRecipient(t *testing.T, f *fixture) {
	alice, bob, carol, dave := f.user("alice"), f.user("bob"), f.user("carol"), f.user("dave")
	wantErr(t, "RemoveRecipient(unknown project)", f.s.RemoveRecipient(f.ctx, "vision", bob.ID), store.ErrNotFound)

	f.batch(alice, "vision", "b-1", t0)
	f.must(f.s.AddRecipient(f.ctx, "vision", bob.ID))
	f.must(f.s.AddRecipient(f.ctx, "vision", carol.ID))
	wantErr(t, "RemoveRecipient(not a recipient)", f.s.RemoveRecipient(f.ctx, "vision", dave.ID), store.ErrNotFound)
	wantErr(t, "RemoveRecipient(the owner)", f.s.RemoveRecipient(f.ctx, "vision", alice.ID), store.ErrNotFound)
	wantErr(t, "RemoveRecipient(unknown user)", f.s.RemoveRecipient(f.ctx, "vision", "no-such-user"), store.ErrNotFound)

	f.must(f.s.RemoveRecipient(f.ctx, "vision", bob.ID))
	wantErr(t, "RemoveRecipient twice", f.s.RemoveRecipient(f.ctx, "vision", bob.ID), store.ErrNotFound)

	p, err := f.s.Project(f.ctx, "vision")
	f.must(err)
	if p.OwnerID != alice.ID {
		t.Errorf("project owner after RemoveRecipient = %s, want %s", p.OwnerID, alice.ID)
	}
	sameIDs(t, "RecipientIDs", p.RecipientIDs, []string{carol.ID})

	// The former recipient no longer sees the project's batches.
	got := f.batches(bob.ID)
	if len(got) != 0 {
		t.Errorf("ListBatches(former recipient) = %d batches, want none", len(got))
	}
	got = f.batches(carol.ID)
	if len(got) != 1 || got[0].ID != "b-1" {
		t.Errorf("ListBatches(remaining recipient) = %+v, want b-1", got)
	}

	// Sharing again after unsharing works.
	f.must(f.s.AddRecipient(f.ctx, "vision", bob.ID))
	p, err = f.s.Project(f.ctx, "vision")
	f.must(err)
	got2 := slices.Clone(p.RecipientIDs)
	slices.Sort(got2)
	want := []string{bob.ID, carol.ID}
	slices.Sort(want)
	sameIDs(t, "RecipientIDs after resharing", got2, want)
}

func testListBatches(t *testing.T, f *fixture) {
	alice, bob, carol, dave := f.user("alice"), f.user("bob"), f.user("carol"), f.user("dave")
	f.batch(alice, "vision", "b-1", t0)
	f.batch(alice, "vision", "b-2", t0.Add(time.Minute))
	// Same creation time: the larger id counts as newer.
	f.batch(alice, "vision", "b-3a", t0.Add(2*time.Minute))
	f.batch(alice, "vision", "b-3b", t0.Add(2*time.Minute))
	f.batch(bob, "audio", "b-bob", t0.Add(3*time.Minute))
	f.must(f.s.AddRecipient(f.ctx, "vision", carol.ID))
	f.batch(carol, "vision", "b-carol", t0.Add(4*time.Minute))
	f.batch(carol, "text", "b-carol-own", t0.Add(5*time.Minute))

	vision := []string{"b-carol", "b-3b", "b-3a", "b-2", "b-1"}
	for _, c := range []struct {
		user store.User
		want []string
	}{
		{alice, vision}, // project owner: sees the recipient's batch too
		{bob, []string{"b-bob"}},
		{carol, append([]string{"b-carol-own"}, vision...)},
		{dave, nil},
	} {
		got := f.batches(c.user.ID)
		sameIDs(t, "ListBatches("+c.user.Name+")", ids(got, batchID), c.want)
	}
}

func testQueueRerun(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	queuedAt := t0.Add(time.Minute)
	r, c := f.rerun(b, a, "r-1", queuedAt)

	got, err := f.s.Run(f.ctx, r.ID)
	f.must(err)
	if got.Status != api.RunQueued || got.BatchID != b.ID || got.AgentID != a.ID ||
		got.RerunCmdID != c.ID || got.PID != 0 || got.ExitCode != nil || got.StopCmdID != "" {
		t.Errorf("Run after QueueRerun = %+v", got)
	}
	sameTime(t, "Run.CreatedAt", got.CreatedAt, queuedAt)
	sameTimePtr(t, "Run.StartedAt", got.StartedAt, nil)
	sameTimePtr(t, "Run.EndedAt", got.EndedAt, nil)

	cmd, err := f.s.Command(f.ctx, c.ID)
	f.must(err)
	if cmd.State != store.CmdQueued || cmd.Attempts != 0 || cmd.AgentID != a.ID ||
		cmd.RunID != r.ID || cmd.Kind != api.KindRerun || cmd.Ack != nil {
		t.Errorf("Command after QueueRerun = %+v", cmd)
	}
	sameTime(t, "Command.CreatedAt", cmd.CreatedAt, queuedAt)
	sameTimePtr(t, "Command.DeliveredAt", cmd.DeliveredAt, nil)
	sameTimePtr(t, "Command.LeaseUntil", cmd.LeaseUntil, nil)
	sameTimePtr(t, "Command.AckedAt", cmd.AckedAt, nil)
	samePayload(t, "Command.Payload", cmd.Payload, c.Payload)

	_, err = f.s.Run(f.ctx, "r-unknown")
	wantErr(t, "Run(unknown)", err, store.ErrNotFound)
	_, err = f.s.Command(f.ctx, "cmd-unknown")
	wantErr(t, "Command(unknown)", err, store.ErrNotFound)

	// One transaction: a command that cannot be stored leaves no run.
	r2 := store.Run{ID: "r-2", BatchID: b.ID, AgentID: a.ID, RerunCmdID: c.ID, CreatedAt: queuedAt}
	if err := f.s.QueueRerun(f.ctx, r2, c); err == nil {
		t.Fatal("QueueRerun with a taken command id succeeded")
	}
	_, err = f.s.Run(f.ctx, "r-2")
	wantErr(t, "Run after failed QueueRerun", err, store.ErrNotFound)
}

func testListRuns(t *testing.T, f *fixture) {
	alice, bob, carol, dave := f.user("alice"), f.user("bob"), f.user("carol"), f.user("dave")
	a := f.agent(alice, "ag-a", "gpu1")
	ab := f.agent(bob, "ag-b", "gpu9")
	b1 := f.batch(alice, "vision", "b-1", t0)
	b2 := f.batch(alice, "vision", "b-2", t0)
	bb := f.batch(bob, "audio", "b-bob", t0)
	f.must(f.s.AddRecipient(f.ctx, "vision", carol.ID))

	f.rerun(b1, a, "r-1", t0.Add(1*time.Minute))
	f.rerun(b1, a, "r-2a", t0.Add(2*time.Minute))
	f.rerun(b1, a, "r-2b", t0.Add(2*time.Minute)) // tie: larger id is newer
	f.rerun(b2, a, "r-3", t0.Add(3*time.Minute))
	f.rerun(bb, ab, "r-bob", t0.Add(4*time.Minute))

	got, _, err := f.s.ListRunsForUser(f.ctx, alice.ID, store.RunFilter{BatchID: b1.ID}, store.Page{Limit: 100})
	f.must(err)
	sameIDs(t, "runs of b-1", ids(got, runID), []string{"r-2b", "r-2a", "r-1"})
	got, _, err = f.s.ListRunsForUser(f.ctx, alice.ID, store.RunFilter{BatchID: "b-unknown"}, store.Page{Limit: 100})
	f.must(err)
	sameIDs(t, "runs of an unknown batch", ids(got, runID), nil)

	vision := []string{"r-3", "r-2b", "r-2a", "r-1"}
	for _, c := range []struct {
		user  store.User
		limit int
		want  []string
		more  bool
	}{
		{alice, 10, vision, false},
		{alice, 2, vision[:2], true},
		{alice, 4, vision, false}, // exactly full: no further page
		{carol, 10, vision, false},
		{bob, 10, []string{"r-bob"}, false},
		{dave, 10, nil, false},
	} {
		got, more, err := f.s.ListRunsForUser(f.ctx, c.user.ID, store.RunFilter{}, store.Page{Limit: c.limit})
		f.must(err)
		sameIDs(t, "ListRunsForUser("+c.user.Name+")", ids(got, runID), c.want)
		if more != c.more {
			t.Errorf("ListRunsForUser(%s, limit %d): more = %v, want %v", c.user.Name, c.limit, more, c.more)
		}
	}
}
