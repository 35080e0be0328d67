package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// receiver is a webhook endpoint in the test: it records every POST and
// answers with the next of its codes (then 204).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []received
	codes []int
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	rc := &receiver{codes: codes}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Header.Clone(), body})
		code := http.StatusNoContent
		if len(rc.codes) > 0 {
			code, rc.codes = rc.codes[0], rc.codes[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls the receiver until it holds n requests.
func (rc *receiver) waitFor(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	err := testenv.Poll(context.Background(), within, func() error {
		if got := len(rc.all()); got < n {
			return fmt.Errorf("the receiver holds %d requests, want %d", got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rc.all()
}

const hookSecret = "0123456789abcdef0123456789abcdef"

// TestWebhookHearsARunEndSignedWithinTwoSeconds: a run's end reaches the
// project's hook within 2 s as run.finished, with the run as the API
// shows it and a signature that verifies with the hook's secret.
func TestWebhookHearsARunEndSignedWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{WebhookAllowPrivate: true})
	alice := h.user("alice")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	batchID := h.batch(alice, "mnist", "gpu-01")
	rc := newReceiver(t)
	var created api.Created
	h.expect(http.StatusCreated, "POST", "/api/projects/mnist/webhooks", alice,
		api.WebhookRequest{URL: rc.URL + "/argus", Secret: hookSecret}).json(t, &created)

	q := h.started(alice, batchID, agentID, agentTok, 4242)
	h.ended(agentID, agentTok, q, 1, "")
	got := rc.waitFor(t, 1, 2*time.Second)[0] // within 2 s of the run's end
	if sig := got.header.Get(api.HeaderSignature); sig != api.Signature(hookSecret, got.body) {
		t.Fatalf("Argus-Signature %q does not verify", sig)
	}
	var ev api.RunFinished
	if err := json.Unmarshal(got.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != api.EventRunFinished || got.header.Get(api.HeaderEvent) != api.EventRunFinished ||
		ev.Delivery == "" || got.header.Get(api.HeaderDelivery) != ev.Delivery ||
		ev.Run.ID != q.RunID || ev.Run.Status != api.RunExited || ev.Run.ExitCode == nil || *ev.Run.ExitCode != 1 ||
		ev.Batch.ID != batchID || ev.Batch.Project != "mnist" {
		t.Fatalf("delivery = %s %+v", got.header, ev)
	}

	// The owner sees it delivered; a cancelled run is an end too.
	var list api.WebhookList
	h.expect(http.StatusOK, "GET", "/api/projects/mnist/webhooks", alice, nil).json(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].ID != created.ID || len(list.Webhooks[0].Deliveries) != 1 ||
		list.Webhooks[0].Deliveries[0].State != "delivered" || list.Webhooks[0].Deliveries[0].LastStatus != 204 {
		t.Fatalf("webhooks list = %+v", list)
	}
	if strings.Contains(string(h.expect(http.StatusOK, "GET", "/api/projects/mnist/webhooks", alice, nil).body), hookSecret) {
		t.Fatal("the list shows the hook's secret")
	}
	var queued api.Queued
	h.expect(http.StatusAccepted, "POST", "/api/batches/"+batchID+"/rerun", alice, nil).json(t, &queued)
	h.expect(http.StatusAccepted, "POST", "/api/runs/"+queued.RunID+"/stop", alice, nil)
	var cancelled api.RunFinished
	if err := json.Unmarshal(rc.waitFor(t, 2, 5*time.Second)[1].body, &cancelled); err != nil || cancelled.Run.Status != api.RunCancelled {
		t.Fatalf("the cancelled run's delivery: %+v (%v)", cancelled, err)
	}
}

// TestWebhookRetriesWithTheSameDelivery: a receiver that fails gets the
// same delivery (id, body, signature) again until it takes it.
func TestWebhookRetriesWithTheSameDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{WebhookAllowPrivate: true})
	alice := h.user("alice")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	batchID := h.batch(alice, "mnist", "gpu-01")
	rc := newReceiver(t, http.StatusServiceUnavailable, http.StatusInternalServerError)
	h.expect(http.StatusCreated, "POST", "/api/projects/mnist/webhooks", alice, api.WebhookRequest{URL: rc.URL, Secret: hookSecret})
	q := h.started(alice, batchID, agentID, agentTok, 7)
	h.ended(agentID, agentTok, q, 0, "")
	got := rc.waitFor(t, 3, 20*time.Second) // 2 s and 4 s apart, give or take a fifth
	for _, g := range got[1:] {
		if g.header.Get(api.HeaderDelivery) != got[0].header.Get(api.HeaderDelivery) || string(g.body) != string(got[0].body) ||
			g.header.Get(api.HeaderSignature) != got[0].header.Get(api.HeaderSignature) {
			t.Fatalf("a retry differs from the first attempt:\n%s %s\n%s %s", got[0].header, got[0].body, g.header, g.body)
		}
	}
	var list api.WebhookList
	h.expect(http.StatusOK, "GET", "/api/projects/mnist/webhooks", alice, nil).json(t, &list)
	if d := list.Webhooks[0].Deliveries[0]; d.State != "delivered" || d.Attempts != 3 {
		t.Fatalf("the delivery after two failures and a success: %+v", d)
	}
}

// TestWebhooksRefuseWhatTheServerShouldNotCall: owner only; an internal
// address without --webhook-allow-private, a URL with credentials or not
// http(s), and a short secret are refused with a 400 saying why.
func TestWebhooksRefuseWhatTheServerShouldNotCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	h.batch(alice, "mnist", "gpu-01")
	h.expect(http.StatusOK, "POST", "/api/projects/mnist/recipients", alice, map[string]string{"user": "bob"})
	ok := api.WebhookRequest{URL: "https://93.184.215.14/hook", Secret: hookSecret}
	h.expect(http.StatusForbidden, "POST", "/api/projects/mnist/webhooks", bob, ok)
	h.expect(http.StatusForbidden, "GET", "/api/projects/mnist/webhooks", bob, nil)
	h.expect(http.StatusNotFound, "POST", "/api/projects/nope/webhooks", alice, ok)
	for req, want := range map[api.WebhookRequest]string{
		{URL: "http://127.0.0.1:9/x", Secret: hookSecret}:        "--webhook-allow-private",
		{URL: "http://10.1.2.3/x", Secret: hookSecret}:           "internal address",
		{URL: "http://[::1]/x", Secret: hookSecret}:              "internal address",
		{URL: "http://169.254.169.254/x", Secret: hookSecret}:    "internal address",
		{URL: "https://u:p@93.184.215.14/x", Secret: hookSecret}: "credentials",
		{URL: "ftp://93.184.215.14/x", Secret: hookSecret}:       "http:// or https://",
		{URL: "https://93.184.215.14/x", Secret: "short"}:        "secret is 5 bytes",
	} {
		r := h.expect(http.StatusBadRequest, "POST", "/api/projects/mnist/webhooks", alice, req)
		if !strings.Contains(string(r.body), want) {
			t.Errorf("%+v: %s, want it to say %q", req, r.body, want)
		}
	}
	var created api.Created
	h.expect(http.StatusCreated, "POST", "/api/projects/mnist/webhooks", alice, ok).json(t, &created)
	h.expect(http.StatusForbidden, "DELETE", "/api/projects/mnist/webhooks/"+created.ID, bob, nil)
	h.expect(http.StatusNoContent, "DELETE", "/api/projects/mnist/webhooks/"+created.ID, alice, nil)
	h.expect(http.StatusNotFound, "DELETE", "/api/projects/mnist/webhooks/"+created.ID, alice, nil)
}
