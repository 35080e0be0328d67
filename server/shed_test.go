package server_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// retryAfter reads a 503's Retry-After in whole seconds.
func retryAfter(t *testing.T, r response) int {
	t.Helper()
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s, want 503", r.code, r.body)
	}
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("503 with Retry-After %q", r.header.Get("Retry-After"))
	}
	return n
}

// Past --max-held-polls a new long-poll is refused at once with 503 and a
// spread-out Retry-After, while the agents' heartbeats still go through;
// once a held poll is answered, a new one is admitted again.
func TestHeldPollsPastTheLimitAre503(t *testing.T) {
	t.Parallel()
	h, w := newWatchedHarness(t, server.Config{MaxHeldPolls: 2})
	alice, id, agentID, tok := h.aliceOnline()
	otherID, otherTok := h.agent(alice, "gpu-02", "", true)
	first := h.pollAsync(agentID, tok, "30s")
	awaitParked(t, w)
	h.pollAsync(otherID, otherTok, "30s")
	awaitParked(t, w)

	third := h.do("GET", "/api/agents/"+otherID+"/jobs?wait=30s", otherTok, nil)
	if n := retryAfter(t, third); n < 5 || n > 15 {
		t.Fatalf("a refused poll is told to come back in %d s, want 5 to 15", n)
	}
	h.expect(204, "POST", "/api/agents/"+otherID+"/heartbeat", otherTok, nil)

	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	if r := <-first; r.code != 200 || len(r.cmds) != 1 {
		t.Fatalf("held poll answered %+v, want the rerun", r)
	}
	if again := h.do("GET", "/api/agents/"+agentID+"/jobs", tok, nil); again.code != 200 {
		t.Fatalf("a poll once a slot is free: %d %s", again.code, again.body)
	}
}

// blockingStore holds ListBatches until released, so requests pile up in
// flight.
type blockingStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) ListBatches(ctx context.Context, userID string, f store.BatchFilter, p store.Page) ([]store.Batch, bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.ListBatches(ctx, userID, f, p)
}

// Past --max-in-flight users' requests get 503 with Retry-After, and an
// agent's heartbeat and ack still go through: they may use twice the
// limit, so they never wait behind the requests that fill it.
func TestRequestsPastTheInFlightLimitAre503ButAgentsGoFirst(t *testing.T) {
	t.Parallel()
	bs := &blockingStore{entered: make(chan struct{}, 8), release: make(chan struct{})}
	h := newHarnessWrapped(t, server.Config{MaxInFlight: 2}, nil, func(s store.Store) store.Store { bs.Store = s; return bs })
	alice, _, agentID, tok := h.aliceOnline()
	q := h.started(alice, h.batch(alice, "mnist", "gpu-01"), agentID, tok, 7)
	done := make(chan response, 2)
	for range 2 {
		go func() { done <- h.do("GET", "/api/batches", alice, nil) }()
		<-bs.entered
	}

	if n := retryAfter(t, h.do("GET", "/api/batches", alice, nil)); n < 1 || n > 3 {
		t.Fatalf("Retry-After %d for a request refused in flight, want 1 to 3", n)
	}
	retryAfter(t, h.do("GET", "/api/runs/"+q.RunID, alice, nil))
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok, api.ExitReport{ExitCode: new(int)})

	close(bs.release)
	for range 2 {
		if r := <-done; r.code != 200 {
			t.Fatalf("a request admitted before the limit: %d %s", r.code, r.body)
		}
	}
	h.expect(200, "GET", "/api/runs/"+q.RunID, alice, nil)
}
