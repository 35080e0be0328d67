package server_test

import (
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// jobs fetches the agent's commands without holding.
func (h *harness) jobs(agentID, tok string) []api.Command {
	h.t.Helper()
	var l api.JobList
	h.expect(200, "GET", "/api/agents/"+agentID+"/jobs", tok, nil).json(h.t, &l)
	return l.Commands
}

func (h *harness) run(id, tok string) api.Run {
	h.t.Helper()
	var r api.Run
	h.expect(200, "GET", "/api/runs/"+id, tok, nil).json(h.t, &r)
	return r
}

func TestRerunNeedsAnOnlineAgentOfTheOwnerOnTheOriginHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	h.agent(alice, "gpu-01", "offline", false) // registered, never heartbeated
	h.agent(alice, "gpu-02", "", true)         // online, wrong host
	h.agent(bob, "gpu-01", "", true)           // online, right host, wrong owner
	before := h.snapshot()
	h.expect(409, "POST", "/api/batches/"+id+"/rerun", alice, nil)
	h.unchanged(before, "a rerun with no agent online")
	h.expect(403, "POST", "/api/batches/"+id+"/rerun", bob, nil)
	h.expect(404, "POST", "/api/batches/bat_unknown/rerun", alice, nil)
	h.expect(400, "POST", "/api/batches/"+id+"/rerun", alice, `{"agent_id":`)
	h.unchanged(before, "refused reruns")

	var agents api.AgentList
	h.expect(200, "GET", "/api/agents", alice, nil).json(t, &agents)
	online := map[string]bool{}
	for _, a := range agents.Agents {
		online[a.Hostname+"/"+a.Label] = a.Online
	}
	if len(agents.Agents) != 2 || online["gpu-01/offline"] || !online["gpu-02/"] {
		t.Fatalf("alice's agents = %+v", agents.Agents)
	}
}

func TestRerunStopExitLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	bobAgent, bobTok := h.agent(bob, "gpu-01", "", true)

	// A rerun carries no command of its own: one that tries is refused.
	before := h.snapshot()
	h.expect(400, "POST", "/api/batches/"+id+"/rerun", alice, `{"command":["rm","-rf","/"]}`)
	h.unchanged(before, "a rerun naming its own command")
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	if r := h.run(q.RunID, alice); r.Status != api.RunQueued || r.RerunCmdID != q.CmdID || r.AgentID != agentID {
		t.Fatalf("queued run = %+v", r)
	}
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].ID != q.CmdID || cmds[0].Kind != api.KindRerun || cmds[0].Rerun == nil {
		t.Fatalf("jobs = %+v", cmds)
	}
	// The command is the recorded one, whatever the request body said.
	if got := strings.Join(cmds[0].Rerun.Command.Argv, " "); got != "python train.py --lr 0.1" || cmds[0].Rerun.Cwd != "/srv/exp" {
		t.Fatalf("rerun spec = %+v", cmds[0].Rerun)
	}
	if len(h.jobs(bobAgent, bobTok)) != 0 {
		t.Fatal("bob's agent on the same host got alice's command")
	}
	// An agent cannot ack another agent's command through its own route.
	before = h.snapshot()
	h.expect(404, "POST", "/api/agents/"+bobAgent+"/jobs/"+q.CmdID+"/ack", bobTok, api.AckRequest{PID: 99})
	h.expect(404, "POST", "/api/agents/"+agentID+"/jobs/cmd_unknown/ack", agentTok, api.AckRequest{PID: 99})
	h.expect(400, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok, `{}`)
	h.unchanged(before, "refused acks") // a stop now would cancel the run: queue_test.go

	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok, api.AckRequest{PID: 4242})
	if r := h.run(q.RunID, alice); r.Status != api.RunRunning || r.PID != 4242 || r.StartedAt == nil {
		t.Fatalf("acked run = %+v", r)
	}

	before = h.snapshot()
	h.expect(403, "POST", "/api/runs/"+q.RunID+"/stop", bob, nil)
	h.expect(400, "POST", "/api/runs/"+q.RunID+"/stop", alice, api.StopRequest{GracePeriod: "soon"})
	h.expect(400, "POST", "/api/runs/"+q.RunID+"/stop", alice, api.StopRequest{GracePeriod: "0s"})
	h.expect(404, "POST", "/api/runs/run_unknown/stop", alice, nil)
	h.unchanged(before, "refused stops")

	var sq api.Queued
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, api.StopRequest{GracePeriod: "2s"}).json(t, &sq)
	if r := h.run(q.RunID, alice); r.Status != api.RunStopping || r.StopCmdID != sq.CmdID {
		t.Fatalf("stopping run = %+v", r)
	}
	before = h.snapshot()
	h.expect(409, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	h.unchanged(before, "a second stop")

	cmds = h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Kind != api.KindStop || cmds[0].Stop.PID != 4242 || cmds[0].Stop.GracePeriodMS != 2000 {
		t.Fatalf("stop jobs = %+v", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+sq.CmdID+"/ack", agentTok, api.AckRequest{Outcome: api.StopKilled})
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", agentTok,
		api.ExitReport{Signal: "SIGKILL", OutputTail: "epoch 1\n"})
	r := h.run(q.RunID, alice)
	if r.Status != api.RunStopped || r.Signal != "SIGKILL" || r.StopOutcome != api.StopKilled || r.EndedAt == nil || r.OutputTail != "epoch 1\n" {
		t.Fatalf("stopped run = %+v", r)
	}
	before = h.snapshot()
	h.expect(409, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	h.unchanged(before, "stop of a stopped run")
}

func TestExitAndAckAreIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	otherAgent, otherTok := h.agent(alice, "gpu-02", "", true)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	ackPath := "/api/agents/" + agentID + "/jobs/" + q.CmdID + "/ack"
	before := h.snapshot()
	h.expect(409, "POST", ackPath, agentTok, api.AckRequest{PID: 77}) // never delivered
	h.unchanged(before, "an ack of a command never delivered")
	h.jobs(agentID, agentTok)

	var first, second api.Ack
	h.expect(200, "POST", ackPath, agentTok, api.AckRequest{PID: 77}).json(t, &first)
	before = h.snapshot()
	h.expect(200, "POST", ackPath, agentTok, api.AckRequest{PID: 77}).json(t, &second)
	h.expect(200, "POST", ackPath, agentTok, api.AckRequest{PID: 78}).json(t, &second)
	h.unchanged(before, "repeated acks")
	if first.Duplicate || !second.Duplicate || second.Ack.PID != 77 || !second.AckedAt.Equal(first.AckedAt) {
		t.Fatalf("first ack %+v, repeated ack %+v", first, second)
	}

	code := 3
	exitPath := "/api/agents/" + agentID + "/runs/" + q.RunID + "/exit"
	before = h.snapshot()
	h.expect(400, "POST", exitPath, agentTok, `{"output_tail":"x"}`)
	h.expect(404, "POST", "/api/agents/"+otherAgent+"/runs/"+q.RunID+"/exit", otherTok, api.ExitReport{ExitCode: &code})
	h.unchanged(before, "refused exit reports")

	tail := strings.Repeat("x", api.MaxOutputTail) + "line 1\nline 2\n"
	h.expect(200, "POST", exitPath, agentTok, api.ExitReport{ExitCode: &code, OutputTail: tail})
	before = h.snapshot()
	other := 0
	h.expect(200, "POST", exitPath, agentTok, api.ExitReport{ExitCode: &other})
	h.unchanged(before, "a repeated exit report")
	r := h.run(q.RunID, alice)
	if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 3 || !strings.HasSuffix(r.OutputTail, "line 1\nline 2\n") ||
		len(r.OutputTail) > api.MaxOutputTail {
		t.Fatalf("exited run = status %s code %v tail %d bytes", r.Status, r.ExitCode, len(r.OutputTail))
	}
	before = h.snapshot()
	h.expect(409, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	h.unchanged(before, "stop of a finished run")
}

func TestFailedStartMarksRunFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok,
		api.AckRequest{Error: "exec: python: not found"})
	if r := h.run(q.RunID, alice); r.Status != api.RunFailed || r.Error != "exec: python: not found" {
		t.Fatalf("run after a failed start = %+v", r)
	}
}

func TestFailedStopLeavesTheRunRunningAndStoppableAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 11)
	var sq api.Queued
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil).json(t, &sq)
	cmds := h.jobs(agentID, tok)
	if len(cmds) != 1 || cmds[0].Stop == nil || cmds[0].Stop.StartedAt == nil {
		t.Fatalf("stop command = %+v: it must carry the run's start time for the PID check", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+sq.CmdID+"/ack", tok, api.AckRequest{Error: "operation not permitted"})
	r := h.run(q.RunID, alice)
	if r.Status != api.RunRunning || r.StopOutcome != api.StopFailed || !strings.Contains(r.Error, "operation not permitted") {
		t.Fatalf("run after a failed stop = %+v", r)
	}
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
}

func TestExitBeforeDeliveryCancelsTheQueuedStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 12)
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	code := 0
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok, api.ExitReport{ExitCode: &code})
	if cmds := h.jobs(agentID, tok); len(cmds) != 0 {
		t.Fatalf("a stop for a run that already ended was delivered: %+v", cmds)
	}
	// The stop never reached the agent: the run ended on its own.
	if r := h.run(q.RunID, alice); r.Status != api.RunExited || r.StopOutcome != api.StopAlreadyGone {
		t.Fatalf("run = %+v", r)
	}
}

func TestOversizedAgentBodiesAre413AndChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{MaxBodyBytes: 8 << 10})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 3)
	before := h.snapshot()
	code := 1
	h.expect(413, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok,
		api.ExitReport{ExitCode: &code, OutputTail: strings.Repeat("x", 16<<10)})
	h.expect(413, "POST", "/api/agents/register", alice,
		api.RegisterRequest{Hostname: "h", Properties: map[string]string{"k": strings.Repeat("v", 16<<10)}})
	h.unchanged(before, "oversized agent bodies")
	if r := h.run(q.RunID, alice); r.Status != api.RunRunning {
		t.Fatalf("run after a refused exit report = %+v", r)
	}
}

// An exit report for a run the agent never acked as started is refused:
// accepted, it would end a queued run that is then still delivered and
// started after it "ended".
func TestExitBeforeTheAckIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	code := 0
	exit := "/api/agents/" + agentID + "/runs/" + q.RunID + "/exit"
	before := h.snapshot()
	h.expect(409, "POST", exit, tok, api.ExitReport{ExitCode: &code})
	h.unchanged(before, "an exit report for a queued run")

	if cmds := h.jobs(agentID, tok); len(cmds) != 1 || cmds[0].ID != q.CmdID {
		t.Fatalf("the rerun after a refused exit report: %+v", cmds)
	}
	h.expect(409, "POST", exit, tok, api.ExitReport{ExitCode: &code}) // delivered, not yet acked
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", tok, api.AckRequest{PID: 77})
	h.expect(200, "POST", exit, tok, api.ExitReport{ExitCode: &code})
	if r := h.run(q.RunID, alice); r.Status != api.RunExited || r.PID != 77 {
		t.Fatalf("run after ack and exit = %+v", r)
	}
}
