package storetest

import (
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// testAgentOffline: a goodbye is stored beside the heartbeat, moves
// forward only, and Stats counts an agent online only with a heartbeat
// after it.
func testAgentOffline(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	beat, bye := t0.Add(time.Minute), t0.Add(2*time.Minute)
	f.must(f.s.Heartbeat(f.ctx, a.ID, beat))
	f.must(f.s.AgentOffline(f.ctx, a.ID, bye))
	f.must(f.s.AgentOffline(f.ctx, a.ID, t0)) // older: kept as it is
	got, err := f.s.Agent(f.ctx, a.ID)
	f.must(err)
	sameTime(t, "OfflineAt", got.OfflineAt, bye)
	sameTime(t, "LastHeartbeat after a goodbye", got.LastHeartbeat, beat)
	wantErr(t, "AgentOffline(unknown)", f.s.AgentOffline(f.ctx, "ag-unknown", bye), store.ErrNotFound)

	online := func(what string, want int) {
		t.Helper()
		st, err := f.s.Stats(f.ctx, t0)
		f.must(err)
		if st.AgentsOnline != want {
			t.Errorf("%s: %d agents online, want %d", what, st.AgentsOnline, want)
		}
	}
	online("after the goodbye", 0)
	// A heartbeat sent before the goodbye, written behind after it.
	f.must(f.s.Heartbeats(f.ctx, map[string]time.Time{a.ID: bye.Add(-time.Second)}))
	online("after an older heartbeat written late", 0)
	f.must(f.s.Heartbeat(f.ctx, a.ID, bye.Add(time.Second)))
	online("after a heartbeat that followed the goodbye", 1)
}

// testRunTimeoutAndStopReason: a run keeps its timeout, and an exit
// report with a stop reason makes it stopped with that reason.
func testRunTimeoutAndStopReason(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	c := rerunCmd(b, a, "r-1", t0)
	c.Payload.Rerun.TimeoutMS = (90 * time.Minute).Milliseconds()
	f.must(f.s.QueueRerun(f.ctx, store.Run{ID: "r-1", BatchID: b.ID, AgentID: a.ID, CreatedAt: t0, Timeout: 90 * time.Minute}, c))
	if r := f.run("r-1"); r.Timeout != 90*time.Minute || r.StopReason != "" {
		t.Fatalf("queued run: timeout %v, stop reason %q", r.Timeout, r.StopReason)
	}
	if got := f.command(c.ID); got.Payload.Rerun.TimeoutMS != c.Payload.Rerun.TimeoutMS {
		t.Errorf("command's timeout_ms %d, want %d", got.Payload.Rerun.TimeoutMS, c.Payload.Rerun.TimeoutMS)
	}
	f.deliver(a, c.ID, t0.Add(time.Second))
	_, _, err := f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: 7}, t0.Add(time.Second))
	f.must(err)
	got, err := f.s.ReportExit(f.ctx, a.ID, "r-1", api.ExitReport{Signal: "SIGTERM", EndedAt: t0.Add(time.Hour), StopReason: api.StopReasonTimeout})
	f.must(err)
	for what, r := range map[string]store.Run{"ReportExit": got, "stored run": f.run("r-1")} {
		if r.Status != api.RunStopped || r.StopReason != api.StopReasonTimeout || r.Signal != "SIGTERM" || r.Timeout != 90*time.Minute {
			t.Errorf("%s after a timeout: %+v", what, r)
		}
	}
	// Without one, a run exits as before.
	r := f.running(b, a, "r-2", 8)
	got, err = f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(0), EndedAt: t0.Add(time.Hour)})
	f.must(err)
	if got.Status != api.RunExited || got.StopReason != "" || got.Timeout != 0 {
		t.Errorf("run without a timeout: %+v", got)
	}
}

// testLeftProcesses: a run's exit report says how many processes its main
// process left behind; the run keeps it.
func testLeftProcesses(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "p", "b-1", t0)
	r := f.running(b, a, "run-1", 4242)
	zero := 0
	_, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: &zero, EndedAt: t0.Add(time.Hour), LeftProcesses: 2})
	f.must(err)
	got, err := f.s.Run(f.ctx, r.ID)
	f.must(err)
	if got.Status != api.RunExited || got.LeftProcesses != 2 {
		t.Fatalf("run after an exit that left 2 processes: %+v", got)
	}
}
