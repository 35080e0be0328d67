package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// A recipient's rerun runs the owner's recorded command on the owner's
// agent, never on the recipient's own agent, even when the recipient names
// it.
func TestRecipientRerunGoesOnlyToTheOwnersAgent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	bobAgent, _ := h.agent(bob, "gpu-01", "", true)

	before := h.snapshot()
	h.expect(409, "POST", "/api/batches/"+id+"/rerun", bob, nil)
	h.expect(409, "POST", "/api/batches/"+id+"/rerun", bob, api.RerunRequest{AgentID: bobAgent})
	h.unchanged(before, "a recipient's rerun with only the recipient's agent online")

	aliceAgent, _ := h.agent(alice, "gpu-01", "", true)
	before = h.snapshot()
	h.expect(409, "POST", "/api/batches/"+id+"/rerun", bob, api.RerunRequest{AgentID: bobAgent})
	h.unchanged(before, "a recipient naming their own agent")
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", bob, nil).json(t, &q)
	if r := h.run(q.RunID, bob); r.AgentID != aliceAgent {
		t.Fatalf("recipient's rerun went to %s, want the owner's agent %s", r.AgentID, aliceAgent)
	}
}

func TestRunsOfUnsharedBatchesAreHidden(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	h.agent(alice, "gpu-01", "", true)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)

	h.expect(403, "GET", "/api/runs/"+q.RunID, bob, nil)
	h.expect(404, "GET", "/api/runs/run_unknown", bob, nil)
	var runs api.RunList
	h.expect(200, "GET", "/api/runs", bob, nil).json(t, &runs)
	if len(runs.Runs) != 0 {
		t.Fatalf("bob sees alice's runs before a share: %+v", runs.Runs)
	}
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	h.expect(200, "GET", "/api/runs", bob, nil).json(t, &runs)
	if len(runs.Runs) != 1 || runs.Runs[0].ID != q.RunID {
		t.Fatalf("bob's runs after the share: %+v", runs.Runs)
	}
}

// A project's owner sees batches a recipient recorded into it, but may not
// launch or stop them on the recipient's host: the API document
// (server/api/openapi.yaml) gives that to the batch's owner and the
// project's recipients only.
func TestProjectOwnerMayViewButNotControlARecipientsBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	h.batch(alice, "mnist", "gpu-01")
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	bobBatch := h.batch(bob, "mnist", "bob-laptop")
	bobAgent, bobTok := h.agent(bob, "bob-laptop", "", true)
	q := h.started(bob, bobBatch, bobAgent, bobTok, 5)

	h.expect(200, "GET", "/api/batches/"+bobBatch, alice, nil)
	h.expect(200, "GET", "/api/runs/"+q.RunID, alice, nil)
	before := h.snapshot()
	h.expect(403, "POST", "/api/batches/"+bobBatch+"/rerun", alice, nil)
	h.expect(403, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	h.unchanged(before, "the project owner controlling a recipient's batch")
}

func TestRevokedAgentIsOfflineAndNeverChosen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	_, tok := h.agent(alice, "gpu-01", "", true)
	h.revoke(tok)
	before := h.snapshot()
	h.expect(409, "POST", "/api/batches/"+id+"/rerun", alice, nil)
	h.unchanged(before, "a rerun whose only agent is revoked")
	var agents api.AgentList
	h.expect(200, "GET", "/api/agents", alice, nil).json(t, &agents)
	if len(agents.Agents) != 1 || agents.Agents[0].Online || !agents.Agents[0].Revoked {
		t.Fatalf("revoked agent listed as %+v", agents.Agents)
	}
}

func TestReregisterKeepsTheAgentAndRevokesItsOldToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, oldTok := h.agent(alice, "gpu-01", "", true)
	q := h.started(alice, id, agentID, oldTok, 9)

	bobAgent, _ := h.agent(bob, "gpu-01", "", false)
	before := h.snapshot()
	h.expect(404, "POST", "/api/agents/register", alice, api.RegisterRequest{AgentID: bobAgent, Hostname: "gpu-01"})
	h.expect(404, "POST", "/api/agents/register", alice, api.RegisterRequest{AgentID: "agt_unknown", Hostname: "gpu-01"})
	h.unchanged(before, "re-registering someone else's or no agent")

	var reg api.RegisterResponse
	h.expect(201, "POST", "/api/agents/register", alice,
		api.RegisterRequest{AgentID: agentID, Hostname: "gpu-01", Version: "2"}).json(t, &reg)
	if reg.AgentID != agentID || reg.Token == oldTok {
		t.Fatalf("re-registration = %+v", reg)
	}
	h.expect(401, "POST", "/api/agents/"+agentID+"/heartbeat", oldTok, nil)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", reg.Token, nil)
	code := 0
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", reg.Token, api.ExitReport{ExitCode: &code})
	if r := h.run(q.RunID, alice); r.Status != api.RunExited {
		t.Fatalf("run of the re-registered agent = %+v", r)
	}
}

func TestStrictUserBodiesLenientAgentBodiesAndBearerCase(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	before := h.snapshot()
	h.expect(400, "POST", "/api/batches", alice,
		`{"projct":"mnist","env_snapshot":{"command":["true"],"cwd":"/","host":"h"}}`)
	h.unchanged(before, "a batch with a misspelt key")

	id := h.batch(alice, "mnist", "gpu-01")
	agentID, tok := h.agent(alice, "gpu-01", "", true)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, tok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", tok, `{"pid": 5, "from_a_newer_agent": true}`)
	// Registration is an agent body too, though sent with a user token.
	h.expect(201, "POST", "/api/agents/register", alice, `{"hostname": "gpu-02", "gpu_count": 8}`)

	if got := h.doWithHeader("GET", "/api/runs/"+q.RunID, "bearer "+alice); got != 200 {
		t.Fatalf("lower-case bearer scheme: %d", got)
	}
	if got := h.doWithHeader("GET", "/api/runs/"+q.RunID, "Basic "+alice); got != 401 {
		t.Fatalf("Basic scheme: %d", got)
	}
}

// The control rule as a table: who may rerun and stop a batch that bob
// recorded into alice's project p3 (shared with bob and carol), whether or
// not the caller has an online agent of their own on bob's host. Only the
// batch's owner and a recipient who is not the project's owner may; a rerun
// always goes to bob's agent. Sharing with oneself is refused, and a
// recipient list that names the project's owner anyway (data from before
// that refusal) gives the owner no control either.
func TestControlRuleTable(t *testing.T) {
	t.Parallel()
	const host = "bob-gpu"
	callers := []struct {
		name       string
		mayControl bool
	}{
		{"bob", true},    // the batch's owner
		{"carol", true},  // a recipient of p3
		{"alice", false}, // p3's owner
		{"dave", false},  // a stranger
	}
	for _, c := range callers {
		for _, ownAgent := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/own-agent-on-host=%v", c.name, ownAgent), func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, server.Config{})
				toks := map[string]string{}
				for _, u := range []string{"alice", "bob", "carol", "dave"} {
					toks[u] = h.user(u)
				}
				h.batch(toks["alice"], "p3", "alice-gpu")
				for _, r := range []string{"bob", "carol"} {
					h.expect(200, "POST", "/api/projects/p3/recipients", toks["alice"], api.ShareRequest{User: r})
				}
				// What the hole needed: the owner sharing with herself.
				before := h.snapshot()
				h.expect(400, "POST", "/api/projects/p3/recipients", toks["alice"], api.ShareRequest{User: "alice"})
				h.unchanged(before, "sharing a project with its owner")
				if err := h.store.AddRecipient(context.Background(), "p3", h.users["alice"]); err != nil {
					t.Fatal(err) // a self-share left by an older server
				}

				batch := h.batch(toks["bob"], "p3", host)
				bobAgent, bobTok := h.agent(toks["bob"], host, "", true)
				running := h.started(toks["bob"], batch, bobAgent, bobTok, 7)
				callerAgent, callerTok := "", ""
				if ownAgent && c.name != "bob" {
					callerAgent, callerTok = h.agent(toks[c.name], host, "", true)
				}

				tok := toks[c.name]
				if !c.mayControl {
					before := h.snapshot()
					h.expect(403, "POST", "/api/batches/"+batch+"/rerun", tok, nil)
					h.expect(403, "POST", "/api/runs/"+running.RunID+"/stop", tok, nil)
					h.unchanged(before, c.name+" controlling bob's batch")
					return
				}
				var q api.Queued
				h.expect(202, "POST", "/api/batches/"+batch+"/rerun", tok, nil).json(t, &q)
				if got := h.jobs(bobAgent, bobTok); len(got) != 1 || got[0].ID != q.CmdID {
					t.Fatalf("bob's agent got %+v, want the rerun %s", got, q.CmdID)
				}
				if callerAgent != "" {
					if got := h.jobs(callerAgent, callerTok); len(got) != 0 {
						t.Fatalf("%s's own agent got %+v: a rerun goes to the batch owner's agent only", c.name, got)
					}
				}
				h.expect(202, "POST", "/api/runs/"+running.RunID+"/stop", tok, nil)
			})
		}
	}
}
