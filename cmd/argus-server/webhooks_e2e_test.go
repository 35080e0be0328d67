package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// hookReceiver is a webhook endpoint in the test: it counts each delivery
// id it took (2xx) and answers 503 while down.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	tried    map[string]int // delivery id → attempts seen
	accepted map[string]int // delivery id → times taken
	bodies   map[string][]byte
	sigs     map[string]string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	hr := &hookReceiver{tried: map[string]int{}, accepted: map[string]int{}, bodies: map[string][]byte{}, sigs: map[string]string{}}
	hr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(api.HeaderDelivery)
		hr.mu.Lock()
		defer hr.mu.Unlock()
		hr.tried[id]++
		if hr.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		hr.accepted[id]++
		hr.bodies[id], hr.sigs[id] = body, r.Header.Get(api.HeaderSignature)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hr.Close)
	return hr
}

func (hr *hookReceiver) setDown(down bool) { hr.mu.Lock(); hr.down = down; hr.mu.Unlock() }

// wait polls until cond holds over the receiver's records.
func (hr *hookReceiver) wait(t *testing.T, within time.Duration, what string, cond func(tried, accepted map[string]int) bool) {
	t.Helper()
	err := testenv.Poll(context.Background(), within, func() error {
		hr.mu.Lock()
		defer hr.mu.Unlock()
		if !cond(hr.tried, hr.accepted) {
			return fmt.Errorf("still waiting for %s: tried %v, accepted %v", what, hr.tried, hr.accepted)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const e2eHookSecret = "e2e-secret-0123456789abcdef"

// endRun reruns batch on the agent through s and plays the agent: poll,
// ack with a PID, report exit code 0. It returns the run's id.
func endRun(t *testing.T, s *serving, alice, batchID string, reg api.RegisterResponse) string {
	t.Helper()
	var q api.Queued
	s.call(t, "POST", "/api/batches/"+batchID+"/rerun", alice, nil, 202, &q)
	var jobs api.JobList
	s.call(t, "GET", "/api/agents/"+reg.AgentID+"/jobs", reg.Token, nil, 200, &jobs)
	s.call(t, "POST", "/api/agents/"+reg.AgentID+"/jobs/"+q.CmdID+"/ack", reg.Token, api.AckRequest{PID: 4242}, 200, nil)
	zero := 0
	s.call(t, "POST", "/api/agents/"+reg.AgentID+"/runs/"+q.RunID+"/exit", reg.Token, api.ExitReport{ExitCode: &zero}, 200, nil)
	return q.RunID
}

// TestWebhookDeliverySurvivesARestart: the receiver is down when a run
// ends; the server is stopped and started again meanwhile; once the
// receiver is back, the same delivery arrives, signed.
func TestWebhookDeliverySurvivesARestart(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	srv := e.StartServer(testenv.ServerSpec{Restartable: true, Env: []string{"ARGUS_WEBHOOK_ALLOW_PRIVATE=1"}})
	s := &serving{Server: srv, env: e}
	alice := e.CreateUser(srv, "alice")
	hr := newHookReceiver(t)
	hr.setDown(true)
	var batch api.Created
	s.call(t, "POST", "/api/batches", alice, api.CreateBatchRequest{Project: "mnist", EnvSnapshot: api.EnvSnapshot{
		Command: api.CommandLine{Argv: []string{"true"}}, Cwd: "/", Host: "gpu-01"}}, 201, &batch)
	s.call(t, "POST", "/api/projects/mnist/webhooks", alice, api.WebhookRequest{URL: hr.URL, Secret: e2eHookSecret}, 201, nil)
	var reg api.RegisterResponse
	s.call(t, "POST", "/api/agents/register", alice, api.RegisterRequest{Hostname: "gpu-01"}, 201, &reg)
	s.call(t, "POST", "/api/agents/"+reg.AgentID+"/heartbeat", reg.Token, nil, 204, nil)
	runID := endRun(t, s, alice, batch.ID, reg)

	hr.wait(t, 10*time.Second, "a first, refused attempt", func(tried, _ map[string]int) bool { return len(tried) == 1 })
	s.stop(t)
	e.RestartServer(srv)
	hr.setDown(false)
	hr.wait(t, 30*time.Second, "the delivery taken after the restart", func(tried, accepted map[string]int) bool {
		return len(accepted) == 1 && len(tried) == 1 // one delivery id throughout
	})
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for id, body := range hr.bodies {
		var ev api.RunFinished
		if err := json.Unmarshal(body, &ev); err != nil || ev.Run.ID != runID || ev.Delivery != id ||
			hr.sigs[id] != api.Signature(e2eHookSecret, body) || hr.tried[id] < 2 {
			t.Fatalf("delivery %s after the restart: %+v (%v), signature %q, %d attempts", id, ev, err, hr.sigs[id], hr.tried[id])
		}
	}
}

// TestTwoReplicasDeliverEachRunEndOnce: two servers on one PostgreSQL
// schema, runs ending through both; the receiver takes each delivery
// exactly once and the owner sees each delivered at the first attempt.
func TestTwoReplicasDeliverEachRunEndOnce(t *testing.T) {
	t.Parallel()
	a, b, alice, batch, reg := replicas(t, "ARGUS_WEBHOOK_ALLOW_PRIVATE=1")
	hr := newHookReceiver(t)
	a.call(t, "POST", "/api/projects/mnist/webhooks", alice, api.WebhookRequest{URL: hr.URL, Secret: e2eHookSecret}, 201, nil)
	const runs = 12
	for i := range runs {
		endRun(t, []*serving{a, b}[i%2], alice, batch.ID, reg)
	}
	hr.wait(t, 20*time.Second, "every run's delivery", func(_, accepted map[string]int) bool { return len(accepted) == runs })
	var list api.WebhookList
	b.call(t, "GET", "/api/projects/mnist/webhooks", alice, nil, 200, &list)
	if len(list.Webhooks) != 1 || len(list.Webhooks[0].Deliveries) != 10 { // the newest 10
		t.Fatalf("webhooks list = %+v", list)
	}
	for _, d := range list.Webhooks[0].Deliveries {
		if d.State != "delivered" || d.Attempts != 1 {
			t.Fatalf("delivery %+v, want delivered at the first attempt", d)
		}
	}
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for id, n := range hr.accepted {
		if n != 1 || hr.tried[id] != 1 {
			t.Fatalf("delivery %s was sent %d times (taken %d), want once", id, hr.tried[id], n)
		}
	}
}
