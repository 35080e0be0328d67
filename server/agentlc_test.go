package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// online reports what GET /api/agents says of one of the user's agents.
func (h *harness) online(userTok, agentID string) bool {
	h.t.Helper()
	var l api.AgentList
	h.expect(200, "GET", "/api/agents", userTok, nil).json(h.t, &l)
	for _, a := range l.Agents {
		if a.ID == agentID {
			return a.Online
		}
	}
	h.t.Fatalf("agent %s not in the list", agentID)
	return false
}

func TestGoodbyeTakesTheAgentOfflineAtOnce(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	// Only explicit flushes write buffered heartbeats.
	h := newHarness(t, server.Config{Now: clock.Now, OnlineWindow: 30 * time.Second, HeartbeatFlush: time.Hour})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, tok := h.agent(alice, "gpu-01", "", true)
	_, bobTok := h.agent(bob, "gpu-01", "", true)
	clock.Add(5 * time.Second)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil) // buffered

	// Another agent's token may not say goodbye for it.
	before := h.snapshot()
	h.expect(403, "POST", "/api/agents/"+agentID+"/offline", bobTok, nil)
	h.expect(401, "POST", "/api/agents/"+agentID+"/offline", "", nil)
	h.unchanged(before, "refused goodbyes")
	if !h.online(alice, agentID) {
		t.Fatal("agent offline after refused goodbyes")
	}

	clock.Add(time.Second)
	h.expect(204, "POST", "/api/agents/"+agentID+"/offline", tok, nil)
	if h.online(alice, agentID) {
		t.Fatal("agent still online after its goodbye")
	}
	before = h.snapshot()
	h.expect(409, "POST", "/api/batches/"+id+"/rerun", alice, nil)
	h.unchanged(before, "a rerun to an agent that said goodbye")

	// The heartbeat buffered before the goodbye is written after it: it
	// must not bring the agent back.
	if err := h.srv.FlushHeartbeats(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.online(alice, agentID) {
		t.Fatal("a heartbeat sent before the goodbye brought the agent back online")
	}

	// The agent starts again: its first heartbeat is written through, so
	// it is online at once.
	clock.Add(time.Second)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	if !h.online(alice, agentID) {
		t.Fatal("agent offline after a heartbeat that followed its goodbye")
	}
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil)

	// A crash says no goodbye: offline once the window has passed.
	clock.Add(31 * time.Second)
	if h.online(alice, agentID) {
		t.Fatal("agent online 31s after its last heartbeat")
	}
}

func TestRerunTimeoutIsCheckedCarriedAndReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()

	before := h.snapshot()
	for _, bad := range []string{"soon", "0s", "-1h", "721h", "0.1ms", strings.Repeat("1", 40) + "s"} {
		r := h.expect(400, "POST", "/api/batches/"+id+"/rerun", alice, api.RerunRequest{Timeout: bad})
		if !strings.Contains(string(r.body), "timeout") {
			t.Errorf("timeout %q: error %s does not name the field", bad, r.body)
		}
	}
	h.unchanged(before, "reruns with bad timeouts")

	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, api.RerunRequest{Timeout: "6h"}).json(t, &q)
	if r := h.run(q.RunID, alice); r.Timeout != "6h0m0s" {
		t.Fatalf("queued run's timeout = %q, want 6h0m0s", r.Timeout)
	}
	cmds := h.jobs(agentID, tok)
	if len(cmds) != 1 || cmds[0].Rerun == nil || cmds[0].Rerun.TimeoutMS != (6*time.Hour).Milliseconds() {
		t.Fatalf("jobs = %+v, want a rerun with a 6h timeout", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", tok, api.AckRequest{PID: 4242})

	before = h.snapshot()
	h.expect(400, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok,
		map[string]any{"signal": "SIGTERM", "stop_reason": "bored"})
	h.unchanged(before, "an exit with an unknown stop_reason")
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok,
		api.ExitReport{Signal: "SIGKILL", StopReason: api.StopReasonTimeout})
	r := h.run(q.RunID, alice)
	if r.Status != api.RunStopped || r.StopReason != api.StopReasonTimeout || r.Signal != "SIGKILL" || r.Timeout != "6h0m0s" {
		t.Fatalf("timed-out run = %+v, want stopped with stop_reason timeout", r)
	}

	// Without a timeout, none is carried or shown.
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	if cmds := h.jobs(agentID, tok); len(cmds) != 1 || cmds[0].Rerun.TimeoutMS != 0 || h.run(q.RunID, alice).Timeout != "" {
		t.Fatalf("rerun without a timeout: jobs %+v", cmds)
	}
}

func TestUIShowsARunsTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, api.RerunRequest{Timeout: "90m"}).json(t, &q)
	c := h.login(alice)
	mustContain(t, h.page(c, "/ui/batches/"+id), `<div class="note">timeout 1h30m0s</div>`)
	h.jobs(agentID, tok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", tok, api.AckRequest{PID: 4242})
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok,
		api.ExitReport{Signal: "SIGTERM", StopReason: api.StopReasonTimeout})
	mustContain(t, h.page(c, "/ui/batches/"+id), "status-stopped", "timeout reached")
}
