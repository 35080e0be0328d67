package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
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

	// An agent whose poll this server holds says so, until the poll is
	// answered (here by a rerun to it).
	holder, holderTok := h.agent(alice, "gpu-03", "", true)
	answered := make(chan pollResult, 1)
	go func() { answered <- h.doNoFatal("GET", "/api/agents/"+holder+"/jobs?wait=30s", holderTok) }()
	err := testenv.Poll(context.Background(), 10*time.Second, func() error {
		var d api.Diagnostics
		if err := json.Unmarshal(h.expect(http.StatusOK, "GET", "/api/diagnostics", alice, nil).body, &d); err != nil {
			return err
		}
		for _, a := range d.Agents {
			if a.ID == holder && a.PollHeld && a.LastPoll != nil {
				return nil
			}
		}
		return fmt.Errorf("the diagnostics do not show %s's poll held", holder)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.expect(http.StatusAccepted, "POST", "/api/batches/"+h.batch(alice, "mnist", "gpu-03")+"/rerun", alice, nil)
	if r := <-answered; r.code != http.StatusOK || len(r.cmds) != 1 {
		t.Fatalf("the held poll's answer: %+v", r)
	}
}
