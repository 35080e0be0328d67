package storetest

import (
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

func (f *fixture) command(id string) store.Command {
	f.t.Helper()
	c, err := f.s.Command(f.ctx, id)
	f.must(err)
	return c
}

// wantUnacked fails unless c is in state and carries no ack.
func wantUnacked(t *testing.T, what string, c store.Command, state store.CommandState) {
	t.Helper()
	if c.State != state || c.Ack != nil || c.AckedAt != nil {
		t.Errorf("%s: state %q, ack %+v at %v; want %s without ack", what, c.State, c.Ack, c.AckedAt, state)
	}
}

// testAckQueued: an ack of a command no agent was handed cannot be
// genuine, and must change neither the command nor its run.
func testAckQueued(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r, c := f.rerun(b, a, "r-1", t0)
	at := t0.Add(time.Minute)
	for _, ack := range []api.AckRequest{{PID: 4242}, {Error: "exec: python: not found"}} {
		_, _, err := f.s.AckCommand(f.ctx, a.ID, c.ID, ack, at)
		wantErr(t, "AckCommand of a queued rerun", err, store.ErrConflict)
	}
	cmd := f.command(c.ID)
	wantUnacked(t, "queued rerun after the refused acks", cmd, store.CmdQueued)
	if cmd.Attempts != 0 || cmd.DeliveredAt != nil {
		t.Errorf("queued rerun after the refused acks = %+v, want never delivered", cmd)
	}
	if run := f.run(r.ID); run.Status != api.RunQueued || run.PID != 0 || run.Error != "" ||
		run.StartedAt != nil || run.EndedAt != nil {
		t.Errorf("run after the refused acks = %+v, want queued and untouched", run)
	}
	// Still handed out, and acked once delivered.
	f.deliver(a, c.ID, at)
	_, dup, err := f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 4242}, at)
	f.must(err)
	if dup {
		t.Error("ack after the refused ones reported as duplicate")
	}

	running := f.running(b, a, "r-2", 77)
	stop := stopCmd(running, "stop-1", t0.Add(time.Hour))
	_, err = f.s.QueueStop(f.ctx, running.ID, stop)
	f.must(err)
	_, _, err = f.s.AckCommand(f.ctx, a.ID, stop.ID, api.AckRequest{Outcome: api.StopTerminated}, at)
	wantErr(t, "AckCommand of a queued stop", err, store.ErrConflict)
	wantUnacked(t, "queued stop after the refused ack", f.command(stop.ID), store.CmdQueued)
	if run := f.run(running.ID); run.Status != api.RunStopping || run.StopOutcome != "" {
		t.Errorf("run after the refused stop ack = %+v, want stopping without outcome", run)
	}
}

// deliveredStop queues stop command id for r at at and delivers it.
func (f *fixture) deliveredStop(a store.Agent, r store.Run, id string, at time.Time) store.Command {
	f.t.Helper()
	stop := stopCmd(r, id, at)
	_, err := f.s.QueueStop(f.ctx, r.ID, stop)
	f.must(err)
	f.deliver(a, stop.ID, at)
	return stop
}

func testAckStopError(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	stop := f.deliveredStop(a, r, "stop-1", t0.Add(time.Hour))
	at := t0.Add(2 * time.Hour)
	ack := api.AckRequest{Error: "kill: operation not permitted"}
	got, dup, err := f.s.AckCommand(f.ctx, a.ID, stop.ID, ack, at)
	f.must(err)
	if dup {
		t.Error("first failed stop ack reported as duplicate")
	}
	wantAcked(t, "failed stop ack", got, ack, at)
	wantAcked(t, "stored failed stop", f.command(stop.ID), ack, at)

	wantStopFailed := func(what string, run store.Run) {
		t.Helper()
		if run.Status != api.RunRunning || run.StopOutcome != api.StopFailed || run.PID != 4242 ||
			run.Error != "stop failed: "+ack.Error || run.EndedAt != nil {
			t.Errorf("%s = %+v, want running again, outcome %q, error %q", what, run,
				api.StopFailed, "stop failed: "+ack.Error)
		}
	}
	wantStopFailed("run after a failed stop", f.run(r.ID))
	_, dup, err = f.s.AckCommand(f.ctx, a.ID, stop.ID, api.AckRequest{Outcome: api.StopKilled}, at.Add(time.Hour))
	f.must(err)
	if !dup {
		t.Error("repeated failed stop ack not reported as duplicate")
	}
	wantStopFailed("run after a repeated ack", f.run(r.ID))

	// Running again, it can be stopped again. When it then ends before the
	// new stop reaches the agent, it ended on its own (exited), and that
	// stop, not the failed one, is what the run's outcome reports.
	again := stopCmd(r, "stop-2", at.Add(time.Hour))
	run, err := f.s.QueueStop(f.ctx, r.ID, again)
	f.must(err)
	if run.Status != api.RunStopping || run.StopCmdID != again.ID {
		t.Errorf("run after a second stop = %+v, want stopping by %s", run, again.ID)
	}
	run, err = f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(0), EndedAt: at.Add(2 * time.Hour)})
	f.must(err)
	if run.Status != api.RunExited || run.StopOutcome != api.StopAlreadyGone {
		t.Errorf("run ended before its second stop = %+v, want exited, %q", run, api.StopAlreadyGone)
	}
}

// testAckStopErrorAfterExit: a stop that failed for a run that has ended
// since does not bring the run back.
func testAckStopErrorAfterExit(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	stop := f.deliveredStop(a, r, "stop-1", t0.Add(time.Hour))
	ended := t0.Add(2 * time.Hour)
	_, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{Signal: "SIGTERM", EndedAt: ended})
	f.must(err)
	at := t0.Add(3 * time.Hour)
	ack := api.AckRequest{Error: "kill: no such process"}
	got, _, err := f.s.AckCommand(f.ctx, a.ID, stop.ID, ack, at)
	f.must(err)
	wantAcked(t, "failed stop ack after the exit", got, ack, at)
	run := f.run(r.ID)
	if run.Status != api.RunStopped {
		t.Errorf("ended run after a failed stop ack: status %q, want stopped", run.Status)
	}
	sameTimePtr(t, "EndedAt after a failed stop ack", run.EndedAt, &ended)
}

// goneAck is how a stop that never reached the agent is acked when its
// run ends first.
var goneAck = api.AckRequest{Outcome: api.StopAlreadyGone, Error: "run ended before the stop was delivered"}

func testReportExitQueuedStop(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	r2 := f.running(b, a, "r-2", 4343)
	for run, id := range map[string]string{r.ID: "stop-1", r2.ID: "stop-2"} {
		_, err := f.s.QueueStop(f.ctx, run, stopCmd(f.run(run), id, t0.Add(time.Hour)))
		f.must(err)
	}
	ended := t0.Add(2 * time.Hour)
	got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(1), EndedAt: ended})
	f.must(err)
	for what, run := range map[string]store.Run{"ReportExit": got, "stored run": f.run(r.ID)} {
		// The stop never reached the agent: the run ended on its own.
		if run.Status != api.RunExited || run.StopOutcome != api.StopAlreadyGone {
			t.Errorf("%s = %+v, want exited with outcome %q", what, run, api.StopAlreadyGone)
		}
	}
	wantAcked(t, "stop of the ended run", f.command("stop-1"), goneAck, ended)
	wantUnacked(t, "stop of another run", f.command("stop-2"), store.CmdQueued)
	claimed := f.claim(a, t0.Add(3*time.Hour), time.Minute, 0)
	sameIDs(t, "claim after the exit", ids(claimed, cmdID), []string{"stop-2"})

	// A repeated report changes nothing, the stop's ack included.
	_, err = f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(2), EndedAt: ended.Add(time.Hour)})
	f.must(err)
	wantAcked(t, "stop after a repeated report", f.command("stop-1"), goneAck, ended)
}

// testReportExitDeliveredStop: a stop the agent holds is left for it to
// ack; the run learns the outcome from that ack.
func testReportExitDeliveredStop(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	stop := f.deliveredStop(a, r, "stop-1", t0.Add(time.Hour))
	ended := t0.Add(2 * time.Hour)
	got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{Signal: "SIGTERM", EndedAt: ended})
	f.must(err)
	if got.Status != api.RunStopped || got.StopOutcome != "" {
		t.Errorf("run ended with its stop delivered = %+v, want stopped without outcome yet", got)
	}
	wantUnacked(t, "delivered stop after the exit", f.command(stop.ID), store.CmdDelivered)

	at := ended.Add(time.Second)
	ack := api.AckRequest{Outcome: api.StopTerminated}
	_, dup, err := f.s.AckCommand(f.ctx, a.ID, stop.ID, ack, at)
	f.must(err)
	if dup {
		t.Error("agent's stop ack after the exit reported as duplicate")
	}
	wantAcked(t, "stop acked after the exit", f.command(stop.ID), ack, at)
	if run := f.run(r.ID); run.Status != api.RunStopped || run.StopOutcome != api.StopTerminated {
		t.Errorf("run after the stop ack = %+v, want stopped, %q", run, api.StopTerminated)
	}
}
