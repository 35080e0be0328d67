package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// withKey sends a POST with an Idempotency-Key and reads the answer.
func (h *harness) withKey(path, tok, key string, body any) response {
	h.t.Helper()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			h.t.Fatal(err)
		}
	}
	req, err := http.NewRequest("POST", h.url+path, bytes.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.HeaderIdempotencyKey, key)
	return h.send(req)
}

// TestARerunWithAnIdempotencyKeyIsQueuedOnce: the same rerun sent again
// with its key gets the first answer, marked replayed, and queues nothing;
// the key with another request is 422, a malformed key 400, and another
// user's same key is theirs.
func TestARerunWithAnIdempotencyKeyIsQueuedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, batchID, _, _ := h.aliceOnline()
	path := "/api/batches/" + batchID + "/rerun"

	first := h.withKey(path, alice, "key-1", nil)
	if first.code != http.StatusAccepted || first.header.Get(api.HeaderIdempotentReplayed) != "" {
		t.Fatalf("first rerun with a key: %d %s %v", first.code, first.body, first.header)
	}
	before := h.snapshot()
	again := h.withKey(path, alice, "key-1", nil)
	if again.code != http.StatusAccepted || !bytes.Equal(again.body, first.body) || again.header.Get(api.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("the same rerun again: %d %s %v; want the first answer %s, replayed", again.code, again.body, again.header, first.body)
	}
	h.unchanged(before, "a rerun repeated with its Idempotency-Key")

	if r := h.withKey(path, alice, "key-1", api.RerunRequest{Timeout: "1h"}); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("the key with another body: %d %s, want 422", r.code, r.body)
	}
	if r := h.withKey(path, alice, "bad key", nil); r.code != http.StatusBadRequest {
		t.Fatalf("a key with a space: %d %s, want 400", r.code, r.body)
	}
	h.unchanged(before, "refused Idempotency-Keys")

	if r := h.withKey(path, alice, "key-2", nil); r.code != http.StatusAccepted || bytes.Equal(r.body, first.body) {
		t.Fatalf("a new key: %d %s, want a new run", r.code, r.body)
	}
}

// TestAStopWithAnIdempotencyKeyAnswersTheSameAgain: a stop repeated with
// its key gets its first answer (not 409 for a run already stopping).
func TestAStopWithAnIdempotencyKeyAnswersTheSameAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, batchID, agentID, agentTok := h.aliceOnline()
	q := h.started(alice, batchID, agentID, agentTok, 4242)
	path := "/api/runs/" + q.RunID + "/stop"
	first := h.withKey(path, alice, "stop-1", api.StopRequest{Reason: "done"})
	if first.code != http.StatusAccepted {
		t.Fatalf("stop with a key: %d %s", first.code, first.body)
	}
	again := h.withKey(path, alice, "stop-1", api.StopRequest{Reason: "done"})
	if again.code != http.StatusAccepted || !bytes.Equal(again.body, first.body) || again.header.Get(api.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("the same stop again: %d %s; want the first answer %s, replayed", again.code, again.body, first.body)
	}
	if r := h.withKey(path, alice, "stop-2", api.StopRequest{Reason: "done"}); r.code != http.StatusConflict {
		t.Fatalf("another stop of the stopping run, new key: %d %s, want 409", r.code, r.body)
	}
}
