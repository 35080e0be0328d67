package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// cancelSpy passes on what CancelRun answered the server.
type cancelSpy struct {
	store.Store
	answered chan<- error
}

func (c cancelSpy) CancelRun(ctx context.Context, runID, by, reason string, at time.Time) (store.Run, error) {
	r, err := c.Store.CancelRun(ctx, runID, by, reason, at)
	c.answered <- err
	return r, err
}

// queuedSetup is alice with an online agent on gpu-01 and a batch there.
func queuedSetup(t *testing.T, cfg server.Config) (h *harness, alice, batch, agentID, agentTok string) {
	t.Helper()
	h = newHarness(t, cfg)
	alice = h.user("alice")
	batch = h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok = h.agent(alice, "gpu-01", "", true)
	return h, alice, batch, agentID, agentTok
}

func (h *harness) rerun(userTok, batchID string) api.Queued {
	h.t.Helper()
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+batchID+"/rerun", userTok, nil).json(h.t, &q)
	return q
}

func (h *harness) start(agentID, agentTok, cmdID string) api.StartAnswer {
	h.t.Helper()
	var a api.StartAnswer
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmdID+"/start", agentTok, nil).json(h.t, &a)
	return a
}

func TestStopCancelsAQueuedRunNeverDelivered(t *testing.T) {
	t.Parallel()
	h, alice, batch, agentID, agentTok := queuedSetup(t, server.Config{})
	q := h.rerun(alice, batch)
	var c api.Queued
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil).json(t, &c)
	if c.RunID != q.RunID || c.CmdID != q.CmdID {
		t.Fatalf("cancel answered %+v, want the run and its rerun command %+v", c, q)
	}
	if r := h.run(q.RunID, alice); r.Status != api.RunCancelled || r.EndedAt == nil || r.PID != 0 {
		t.Fatalf("cancelled run = %+v", r)
	}
	if cmds := h.jobs(agentID, agentTok); len(cmds) != 0 {
		t.Fatalf("a cancelled rerun was delivered: %+v", cmds)
	}
	before := h.snapshot()
	h.expect(409, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	if a := h.start(agentID, agentTok, q.CmdID); a.Start || a.RunStatus != api.RunCancelled {
		t.Fatalf("start of a cancelled rerun = %+v", a)
	}
	h.unchanged(before, "a second stop and asking to start the cancelled rerun")
	q = h.rerun(alice, batch)
	h.expect(409, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/start", agentTok, nil) // never delivered
}

// The race the start step closes: the agent holds the rerun in a poll
// answer when the user cancels; asking to start it, it is told no.
func TestACancelledRerunHeldByTheAgentIsNeverStarted(t *testing.T) {
	t.Parallel()
	h, alice, batch, agentID, agentTok := queuedSetup(t, server.Config{})
	q := h.rerun(alice, batch)
	if cmds := h.jobs(agentID, agentTok); len(cmds) != 1 {
		t.Fatalf("jobs = %+v", cmds)
	}
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	before := h.snapshot()
	if a := h.start(agentID, agentTok, q.CmdID); a.Start || a.RunStatus != api.RunCancelled {
		t.Fatalf("start of a cancelled rerun = %+v", a)
	}
	// An agent that skipped the step is refused too.
	h.expect(409, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok, api.AckRequest{PID: 77})
	h.unchanged(before, "asking to start, and acking, a cancelled rerun")
	if r := h.run(q.RunID, alice); r.Status != api.RunCancelled {
		t.Fatalf("run = %+v", r)
	}
}

// Once the agent was told to start, the run started: a stop then waits for
// the PID and stops it, and the run says so.
func TestAStopAfterTheStartStepStopsTheStartedRun(t *testing.T) {
	t.Parallel()
	refused := make(chan error, 1)
	h := newHarnessWrapped(t, server.Config{}, nil, func(st store.Store) store.Store { return cancelSpy{st, refused} })
	alice := h.user("alice")
	batch := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	q := h.rerun(alice, batch)
	h.jobs(agentID, agentTok)
	if a := h.start(agentID, agentTok, q.CmdID); !a.Start || a.RunStatus != api.RunQueued {
		t.Fatalf("start = %+v", a)
	}
	if a := h.start(agentID, agentTok, q.CmdID); !a.Start {
		t.Fatalf("a repeated start = %+v, want the same yes", a)
	}
	stopped := make(chan response, 1)
	go func() { stopped <- h.do("POST", "/api/runs/"+q.RunID+"/stop", alice, nil) }()
	// The stop found the run starting and now waits for the PID; the ack
	// gives it.
	if err := <-refused; !errors.Is(err, store.ErrStarting) {
		t.Fatalf("cancel of a starting run: %v, want ErrStarting", err)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok, api.AckRequest{PID: 4242})
	var resp response
	select {
	case resp = <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("the stop did not answer once the run had its PID")
	}
	if resp.code != 202 {
		t.Fatalf("stop = %d %s", resp.code, resp.body)
	}
	r := h.run(q.RunID, alice)
	if r.Status != api.RunStopping || r.PID != 4242 || r.StopCmdID == "" {
		t.Fatalf("run after a stop racing its start = %+v", r)
	}
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Kind != api.KindStop || cmds[0].Stop.PID != 4242 {
		t.Fatalf("jobs = %+v, want the stop of pid 4242", cmds)
	}
}

func TestARerunNotStartedWithinTheQueueTTLExpires(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	h, alice, batch, agentID, agentTok := queuedSetup(t, server.Config{QueueTTL: time.Minute, Now: clk.Now})
	q := h.rerun(alice, batch)
	r := h.run(q.RunID, alice)
	if r.Status != api.RunQueued || r.ExpiresAt == nil || !r.ExpiresAt.Equal(r.CreatedAt.Add(time.Minute)) {
		t.Fatalf("queued run = %+v, want expires_at = created_at + 1m", r)
	}
	clk.add(time.Minute + time.Millisecond)
	// Read before any sweep or claim: the run shows expired on time.
	deadline := *r.ExpiresAt
	r = h.run(q.RunID, alice)
	if r.Status != api.RunExpired || r.EndedAt == nil || !r.EndedAt.Equal(deadline) || r.Error == "" {
		t.Fatalf("run past its deadline = %+v", r)
	}
	if cmds := h.jobs(agentID, agentTok); len(cmds) != 0 {
		t.Fatalf("an expired rerun was delivered: %+v", cmds)
	}
	h.expect(409, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
}

func TestADeliveredRerunPastItsDeadlineIsRefusedTheStart(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	h, alice, batch, agentID, agentTok := queuedSetup(t, server.Config{QueueTTL: time.Minute, Now: clk.Now})
	q := h.rerun(alice, batch)
	clk.add(30 * time.Second)
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].ExpiresAt == nil || cmds[0].DeliveredAt == nil ||
		cmds[0].ExpiresAt.Sub(*cmds[0].DeliveredAt) != 30*time.Second {
		t.Fatalf("jobs = %+v, want expires_at 30s after delivered_at", cmds)
	}
	clk.add(31 * time.Second)
	if a := h.start(agentID, agentTok, q.CmdID); a.Start || a.RunStatus != api.RunExpired {
		t.Fatalf("start past the deadline = %+v", a)
	}
	if r := h.run(q.RunID, alice); r.Status != api.RunExpired {
		t.Fatalf("run = %+v", r)
	}
}

func TestTheAgentsExpiredRefusalMakesTheRunExpired(t *testing.T) {
	t.Parallel()
	h, alice, batch, agentID, agentTok := queuedSetup(t, server.Config{})
	q := h.rerun(alice, batch)
	h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok,
		api.AckRequest{Outcome: api.OutcomeExpired, Error: "expired: received 2s past its deadline"})
	if r := h.run(q.RunID, alice); r.Status != api.RunExpired || r.Error == "" {
		t.Fatalf("run = %+v", r)
	}
	h.expect(400, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok, api.AckRequest{PID: 3, Outcome: api.StopKilled})
}

func TestMaxRunsHoldsReruns(t *testing.T) {
	t.Parallel()
	h, alice, batch, agentID, agentTok := queuedSetup(t, server.Config{})
	jobs := func(max string) []api.Command {
		t.Helper()
		var l api.JobList
		h.expect(200, "GET", "/api/agents/"+agentID+"/jobs?max_runs="+max, agentTok, nil).json(t, &l)
		return l.Commands
	}
	first, second := h.rerun(alice, batch), h.rerun(alice, batch)
	if cmds := jobs("1"); len(cmds) != 1 || cmds[0].ID != first.CmdID {
		t.Fatalf("jobs with max_runs 1 = %+v, want the first rerun only", cmds)
	}
	if r := h.run(second.RunID, alice); r.Status != api.RunQueued || r.WaitingReason != "host busy (1/1 runs)" {
		t.Fatalf("held run = %+v", r)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+first.CmdID+"/ack", agentTok, api.AckRequest{PID: 10})
	if cmds := jobs("1"); len(cmds) != 0 {
		t.Fatalf("jobs while the first runs = %+v", cmds)
	}
	// A stop is never held back by the limit.
	var sq api.Queued
	h.expect(202, "POST", "/api/runs/"+first.RunID+"/stop", alice, nil).json(t, &sq)
	if cmds := jobs("1"); len(cmds) != 1 || cmds[0].ID != sq.CmdID {
		t.Fatalf("jobs = %+v, want the stop", cmds)
	}
	code := 0
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+first.RunID+"/exit", agentTok, api.ExitReport{ExitCode: &code})
	if cmds := jobs("1"); len(cmds) != 1 || cmds[0].ID != second.CmdID {
		t.Fatalf("jobs after the first ended = %+v, want the second rerun", cmds)
	}
	if r := h.run(second.RunID, alice); r.WaitingReason != "" {
		t.Fatalf("delivered run still says %q", r.WaitingReason)
	}
	h.expect(400, "GET", "/api/agents/"+agentID+"/jobs?max_runs=-1", agentTok, nil)
	h.expect(400, "GET", "/api/agents/"+agentID+"/jobs?max_runs=lots", agentTok, nil)
}
