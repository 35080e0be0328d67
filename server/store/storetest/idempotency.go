package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// testIdempotency: a rerun queued with a key records its answer in the
// same transaction; the key used again queues nothing (ErrExists) and
// reads back the first answer; keys are the user's own; old keys are
// pruned.
func testIdempotency(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "p", "b-1", t0)
	key := store.Idempotency{UserID: alice.ID, Key: "k-1", Request: "rerun b-1", Status: 202, Response: []byte(`{"run_id":"run-1"}`), CreatedAt: t0}

	c1 := rerunCmd(b, a, "run-1", t0)
	f.must(f.s.QueueRerunOnce(f.ctx, store.Run{ID: "run-1", BatchID: b.ID, AgentID: a.ID, CreatedAt: t0}, c1, key))
	c2 := rerunCmd(b, a, "run-2", t0)
	err := f.s.QueueRerunOnce(f.ctx, store.Run{ID: "run-2", BatchID: b.ID, AgentID: a.ID, CreatedAt: t0}, c2, key)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("the same key again: %v, want ErrExists", err)
	}
	if _, err := f.s.Run(f.ctx, "run-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the run of a repeated key: %v, want it never queued", err)
	}
	if _, err := f.s.Command(f.ctx, c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the command of a repeated key: %v, want it never queued", err)
	}
	got, err := f.s.Idempotency(f.ctx, alice.ID, "k-1")
	f.must(err)
	if got.Request != key.Request || got.Status != key.Status || string(got.Response) != string(key.Response) {
		t.Fatalf("recorded %+v, want %+v", got, key)
	}
	sameTime(t, "recorded at", got.CreatedAt, t0)
	if _, err := f.s.Idempotency(f.ctx, bob.ID, "k-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user's key: %v, want ErrNotFound", err)
	}

	stop := store.Idempotency{UserID: bob.ID, Key: "k-1", Request: "stop run-1", Status: 202, Response: []byte(`{}`), CreatedAt: t0.Add(time.Hour)}
	f.must(f.s.SaveIdempotency(f.ctx, stop))
	if err := f.s.SaveIdempotency(f.ctx, stop); !errors.Is(err, store.ErrExists) {
		t.Fatalf("saving a key twice: %v, want ErrExists", err)
	}
	n, err := f.s.PruneIdempotency(f.ctx, t0.Add(time.Minute))
	f.must(err)
	if n != 1 {
		t.Fatalf("pruned %d keys, want 1 (the older)", n)
	}
	if _, err := f.s.Idempotency(f.ctx, alice.ID, "k-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a pruned key: %v, want ErrNotFound", err)
	}
	if _, err := f.s.Idempotency(f.ctx, bob.ID, "k-1"); err != nil {
		t.Fatalf("a key younger than the prune: %v", err)
	}
}
