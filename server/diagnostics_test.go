package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// TestDiagnosticsTellAQuietAgentFromABusyOne: the caller's agents with
// their last poll and their commands not yet acked, by state; another
// user's agents are not listed.
func TestDiagnosticsTellAQuietAgentFromABusyOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	polling, pollingTok := h.agent(alice, "gpu-01", "", true)
	silent, _ := h.agent(alice, "gpu-02", "", true) // heartbeats, never polls
	h.agent(bob, "gpu-09", "", true)
	b1, b2 := h.batch(alice, "mnist", "gpu-01"), h.batch(alice, "mnist", "gpu-02")
	h.expect(http.StatusAccepted, "POST", "/api/batches/"+b1+"/rerun", alice, nil)
	h.jobs(polling, pollingTok) // delivered, not acked
	h.expect(http.StatusAccepted, "POST", "/api/batches/"+b2+"/rerun", alice, nil)
	h.expect(http.StatusAccepted, "POST", "/api/batches/"+b2+"/rerun", alice, nil)

	var d api.Diagnostics
	if err := json.Unmarshal(h.expect(http.StatusOK, "GET", "/api/diagnostics", alice, nil).body, &d); err != nil {
		t.Fatal(err)
	}
	byID := map[string]api.AgentDiagnostics{}
	for _, a := range d.Agents {
		byID[a.ID] = a
	}
	if len(d.Agents) != 2 {
		t.Fatalf("alice's diagnostics list %d agents, want her 2", len(d.Agents))
	}
	if p := byID[polling]; p.LastPoll == nil || p.Commands["delivered"] != 1 || p.Commands["queued"] != 0 || !p.Online {
		t.Errorf("the polling agent: %+v, want a last poll and 1 delivered command", p)
	}
	if s := byID[silent]; s.LastPoll != nil || s.Commands["queued"] != 2 || !s.Online || s.PollHeld {
		t.Errorf("the agent that never polls: %+v, want no last poll and 2 queued commands", s)
	}
}
