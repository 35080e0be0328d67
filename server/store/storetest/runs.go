package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// setup is one user, two agents and a batch, the cast of most run checks.
func (f *fixture) setup() (a, other store.Agent, b store.Batch) {
	alice := f.user("alice")
	a, other = f.agent(alice, "ag-1", "gpu1"), f.agent(alice, "ag-2", "gpu2")
	return a, other, f.batch(alice, "vision", "b-1", t0)
}

func (f *fixture) run(id string) store.Run {
	f.t.Helper()
	r, err := f.s.Run(f.ctx, id)
	f.must(err)
	return r
}

func testAckRerun(t *testing.T, f *fixture) {
	a, other, b := f.setup()
	r, c := f.rerun(b, a, "r-1", t0)
	ackAt, startedAt := t0.Add(time.Minute), t0.Add(50*time.Second)

	_, _, err := f.s.AckCommand(f.ctx, a.ID, "cmd-unknown", api.AckRequest{PID: 1}, ackAt)
	wantErr(t, "AckCommand(unknown)", err, store.ErrNotFound)
	// Another agent's command is not found, delivered or not.
	_, _, err = f.s.AckCommand(f.ctx, other.ID, c.ID, api.AckRequest{PID: 1}, ackAt)
	wantErr(t, "AckCommand of a queued command by another agent", err, store.ErrNotFound)
	f.deliver(a, c.ID, t0.Add(10*time.Second))
	_, _, err = f.s.AckCommand(f.ctx, other.ID, c.ID, api.AckRequest{PID: 1}, ackAt)
	wantErr(t, "AckCommand by another agent", err, store.ErrNotFound)
	if cmd, _ := f.s.Command(f.ctx, c.ID); cmd.State != store.CmdDelivered {
		t.Errorf("command after another agent's ack: state %q, want delivered", cmd.State)
	}

	ack := api.AckRequest{PID: 4242, StartedAt: &startedAt}
	got, dup, err := f.s.AckCommand(f.ctx, a.ID, c.ID, ack, ackAt)
	f.must(err)
	if dup {
		t.Error("first ack reported as duplicate")
	}
	wantAcked(t, "AckCommand", got, ack, ackAt)
	stored, err := f.s.Command(f.ctx, c.ID)
	f.must(err)
	wantAcked(t, "stored command", stored, ack, ackAt)

	run := f.run(r.ID)
	if run.Status != api.RunRunning || run.PID != 4242 || run.EndedAt != nil {
		t.Errorf("run after ack = %+v, want running with pid 4242", run)
	}
	sameTimePtr(t, "Run.StartedAt", run.StartedAt, &startedAt)

	// A repeated ack, even with another body, changes nothing.
	again, dup, err := f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 999}, ackAt.Add(time.Hour))
	f.must(err)
	if !dup {
		t.Error("repeated ack not reported as duplicate")
	}
	wantAcked(t, "repeated AckCommand", again, ack, ackAt)
	if run := f.run(r.ID); run.PID != 4242 {
		t.Errorf("run pid after repeated ack = %d, want 4242", run.PID)
	}

	// Without a start time from the agent, the ack time stands in.
	r2, c2 := f.rerun(b, a, "r-2", t0)
	f.deliver(a, c2.ID, t0.Add(10*time.Second))
	_, _, err = f.s.AckCommand(f.ctx, a.ID, c2.ID, api.AckRequest{PID: 77}, ackAt)
	f.must(err)
	sameTimePtr(t, "StartedAt without one in the ack", f.run(r2.ID).StartedAt, &ackAt)
}

func wantAcked(t *testing.T, what string, c store.Command, ack api.AckRequest, at time.Time) {
	t.Helper()
	if c.State != store.CmdAcked {
		t.Errorf("%s: state %q, want acked", what, c.State)
	}
	sameTimePtr(t, what+" AckedAt", c.AckedAt, &at)
	if c.Ack == nil {
		t.Errorf("%s: Ack is nil, want %+v", what, ack)
		return
	}
	sameTimePtr(t, what+" Ack.StartedAt", c.Ack.StartedAt, ack.StartedAt)
	gotAck := *c.Ack
	gotAck.StartedAt, ack.StartedAt = nil, nil
	if !reflect.DeepEqual(gotAck, ack) {
		t.Errorf("%s: Ack = %+v, want %+v", what, gotAck, ack)
	}
}

func testAckRerunError(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r, c := f.rerun(b, a, "r-1", t0)
	f.deliver(a, c.ID, t0.Add(time.Second))
	at := t0.Add(time.Minute)
	ack := api.AckRequest{Error: "exec: python: not found"}
	got, _, err := f.s.AckCommand(f.ctx, a.ID, c.ID, ack, at)
	f.must(err)
	wantAcked(t, "failed ack", got, ack, at)

	run := f.run(r.ID)
	if run.Status != api.RunFailed || run.Error != ack.Error || run.PID != 0 {
		t.Errorf("run after failed start = %+v, want failed with error %q", run, ack.Error)
	}
	sameTimePtr(t, "failed run EndedAt", run.EndedAt, &at)
}

// testAckAfterExit covers an exit report that would overtake the ack: it
// is refused, changing nothing (the agent sends a run's ack before its
// exit, and retries the exit), and once the ack is in, the same report
// ends the run, which keeps its PID.
func testAckAfterExit(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r, c := f.rerun(b, a, "r-1", t0)
	f.deliver(a, c.ID, t0.Add(time.Second))
	ended := t0.Add(2 * time.Minute)
	report := api.ExitReport{ExitCode: ptr(0), EndedAt: ended}
	_, err := f.s.ReportExit(f.ctx, a.ID, r.ID, report)
	wantErr(t, "ReportExit before the ack", err, store.ErrConflict)
	_, _, err = f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 555}, t0.Add(time.Minute))
	f.must(err)
	_, err = f.s.ReportExit(f.ctx, a.ID, r.ID, report)
	f.must(err)

	run := f.run(r.ID)
	if run.Status != api.RunExited || run.PID != 555 || run.ExitCode == nil || *run.ExitCode != 0 {
		t.Errorf("run acked, then exited = %+v, want exited (0) with pid 555", run)
	}
	sameTimePtr(t, "EndedAt", run.EndedAt, &ended)
	if run.StartedAt == nil {
		t.Error("StartedAt not set by the ack")
	}
}

func testAckStop(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	stop := stopCmd(r, "stop-1", t0.Add(time.Hour))
	_, err := f.s.QueueStop(f.ctx, r.ID, stop)
	f.must(err)
	f.deliver(a, stop.ID, t0.Add(time.Hour))
	at := t0.Add(2 * time.Hour)
	ack := api.AckRequest{Outcome: api.StopTerminated}
	got, dup, err := f.s.AckCommand(f.ctx, a.ID, stop.ID, ack, at)
	f.must(err)
	if dup {
		t.Error("first stop ack reported as duplicate")
	}
	wantAcked(t, "stop ack", got, ack, at)

	run := f.run(r.ID)
	if run.StopOutcome != api.StopTerminated || run.Status != api.RunStopping || run.PID != 4242 {
		t.Errorf("run after stop ack = %+v, want stopping with outcome %q", run, api.StopTerminated)
	}
}

func testReportExit(t *testing.T, f *fixture) {
	a, other, b := f.setup()
	ended := t0.Add(time.Hour)
	report := api.ExitReport{ExitCode: ptr(3), EndedAt: ended, OutputTail: "loss=0.1\nTraceback\n"}

	// Before its rerun is acked, a run has not started: it cannot end.
	queued, c := f.rerun(b, a, "r-queued", t0)
	_, err := f.s.ReportExit(f.ctx, a.ID, queued.ID, report)
	wantErr(t, "ReportExit(queued run)", err, store.ErrConflict)
	f.deliver(a, c.ID, t0.Add(time.Second))
	_, err = f.s.ReportExit(f.ctx, a.ID, queued.ID, report)
	wantErr(t, "ReportExit(delivered, unacked run)", err, store.ErrConflict)
	if run := f.run(queued.ID); run.Status != api.RunQueued || run.EndedAt != nil {
		t.Errorf("queued run after an exit report: %+v", run)
	}

	r := f.running(b, a, "r-1", 4242)

	_, err = f.s.ReportExit(f.ctx, a.ID, "r-unknown", report)
	wantErr(t, "ReportExit(unknown run)", err, store.ErrNotFound)
	_, err = f.s.ReportExit(f.ctx, other.ID, r.ID, report)
	wantErr(t, "ReportExit by another agent", err, store.ErrNotFound)
	if run := f.run(r.ID); run.Status != api.RunRunning {
		t.Errorf("run after another agent's report: %q, want running", run.Status)
	}

	got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, report)
	f.must(err)
	wantExited(t, "ReportExit", got, api.RunExited, 3, ended, report.OutputTail)
	wantExited(t, "stored run", f.run(r.ID), api.RunExited, 3, ended, report.OutputTail)

	// The first report stands.
	second := api.ExitReport{ExitCode: ptr(9), Signal: "SIGKILL", EndedAt: ended.Add(time.Hour), OutputTail: "x"}
	got, err = f.s.ReportExit(f.ctx, a.ID, r.ID, second)
	f.must(err)
	wantExited(t, "repeated ReportExit", got, api.RunExited, 3, ended, report.OutputTail)
	wantExited(t, "stored run after repeat", f.run(r.ID), api.RunExited, 3, ended, report.OutputTail)
}

func wantExited(t *testing.T, what string, r store.Run, status api.RunStatus, code int, ended time.Time, tail string) {
	t.Helper()
	if r.Status != status || r.ExitCode == nil || *r.ExitCode != code || r.OutputTail != tail || r.Signal != "" {
		t.Errorf("%s = %+v, want %s with code %d and tail %q", what, r, status, code, tail)
	}
	sameTimePtr(t, what+" EndedAt", r.EndedAt, &ended)
}

func testReportExitStopped(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	f.deliveredStop(a, r, "stop-1", t0.Add(time.Hour)) // the stop reached the agent
	ended := t0.Add(2 * time.Hour)
	got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{Signal: "SIGTERM", EndedAt: ended})
	f.must(err)
	if got.Status != api.RunStopped || got.Signal != "SIGTERM" || got.ExitCode != nil || got.StopCmdID != "stop-1" {
		t.Errorf("run ended after a stop = %+v, want stopped by SIGTERM", got)
	}
	sameTimePtr(t, "EndedAt", got.EndedAt, &ended)
	if run := f.run(r.ID); run.Status != api.RunStopped {
		t.Errorf("stored status = %q, want stopped", run.Status)
	}
}

func testReportExitUnknown(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-1", 4242)
	before := time.Now().Truncate(time.Millisecond)
	got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{Unknown: true})
	f.must(err)
	after := time.Now()
	if got.Status != api.RunExited || !got.ExitUnknown || got.ExitCode != nil {
		t.Errorf("run with unknown exit = %+v, want exited with ExitUnknown", got)
	}
	// No EndedAt in the report: the store's clock stands in.
	if got.EndedAt == nil || got.EndedAt.Before(before) || got.EndedAt.After(after) {
		t.Errorf("EndedAt = %v, want between %v and %v", got.EndedAt, before, after)
	}
	if run := f.run(r.ID); !run.ExitUnknown {
		t.Error("stored ExitUnknown = false, want true")
	}
}

func testOutputTail(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	// Two-byte runes, and an odd number of bytes after them: a plain
	// byte cut lands inside a rune.
	long := "HEAD" + strings.Repeat("é", api.MaxOutputTail/2+100) + "END"
	r := f.running(b, a, "r-1", 1)
	got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(0), EndedAt: t0, OutputTail: long})
	f.must(err)
	for what, tail := range map[string]string{"returned": got.OutputTail, "stored": f.run(r.ID).OutputTail} {
		if len(tail) > api.MaxOutputTail || len(tail) < api.MaxOutputTail-utf8.UTFMax {
			t.Errorf("%s tail is %d bytes, want just under %d", what, len(tail), api.MaxOutputTail)
		}
		if !strings.HasSuffix(long, tail) || !strings.HasSuffix(tail, "éEND") {
			t.Errorf("%s tail is not the end of the output", what)
		}
		if !utf8.ValidString(tail) {
			t.Errorf("%s tail is not valid UTF-8: starts % x", what, tail[:4])
		}
	}
}
