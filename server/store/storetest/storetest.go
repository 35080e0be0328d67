// Package storetest is the conformance suite every store.Store engine must
// pass. It drives an engine through the store.Store interface only, so the
// SQLite engine (on a file and in memory) and the PostgreSQL engine (a
// fresh schema per test, from postgres/pgtest) run the very same checks:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// Run is all it exports. The checks cover users, sessions and tokens
// (with their last use and the list per user), agents and heartbeats,
// batches, projects and sharing, queuing reruns and stops, claiming
// commands under leases (concurrently too), acks, exit reports and output
// tails, who asked for each run and its stop and why, cancelling, starting
// and expiring queued reruns, per-agent run limits (concurrent claims
// too), paged lists (every item once and in order
// whatever the page size, ties, filters, visibility, inserts between
// pages), metrics counts, Ping and Close.
//
// The suite holds no engine code and no HTTP code. Engine-specific checks
// (opening files or connections, reopening, migrations and upgrades,
// claims across replicas) belong in the engine's own tests.
package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// Run runs every conformance check as a subtest. open must return a new,
// empty store each time it is called; Run closes it when the subtest ends
// (a second Close from the engine's own cleanup must be harmless).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"Users", testUsers},
		{"EndSessions", testEndSessions},
		{"Tokens", testTokens},
		{"RevokeToken", testRevokeToken},
		{"TouchTokens", testTouchTokens},
		{"ListTokens", testListTokens},
		{"RegisterAgent", testRegisterAgent},
		{"ListAgents", testListAgents},
		{"AgentsOnHost", testAgentsOnHost},
		{"Heartbeat", testHeartbeat},
		{"Heartbeats", testHeartbeats},
		{"Resources", testResources},
		{"BatchFilters", testBatchFilters},
		{"BatchRuns", testBatchRuns},
		{"HostsWithoutAgent", testHostsWithoutAgent},
		{"CommandCounts", testCommandCounts},
		{"Retention", testRetention},
		{"Webhooks", testWebhooks},
		{"RotateAgentToken", testRotateAgentToken},
		{"AgentRevoked", testAgentRevoked},
		{"Stats", testStats},
		{"AgentOffline", testAgentOffline},
		{"RunTimeoutAndStopReason", testRunTimeoutAndStopReason},
		{"CreateBatch", testCreateBatch},
		{"CreateBatchForbidden", testCreateBatchForbidden},
		{"Projects", testProjects},
		{"RemoveRecipient", testRemoveRecipient},
		{"ListBatches", testListBatches},
		{"QueueRerun", testQueueRerun},
		{"ListRuns", testListRuns},
		{"PagedBatches", testPagedBatches},
		{"PagedListsOfManyProjects", testPagedListsOfManyProjects},
		{"PagedAgents", testPagedAgents},
		{"PagedRuns", testPagedRuns},
		{"PagedRunsInsertBetween", testPagedRunsInsertBetween},
		{"QueueStop", testQueueStop},
		{"Accountability", testAccountability},
		{"ClaimCommands", testClaimCommands},
		{"ClaimCommandsConcurrent", testClaimConcurrent},
		{"NextLeaseExpiry", testNextLeaseExpiry},
		{"LookForWork", testLookForWork},
		{"ReleaseDelivered", testReleaseDelivered},
		{"Idempotency", testIdempotency},
		{"LeftProcesses", testLeftProcesses},
		{"AckRerun", testAckRerun},
		{"AckRerunError", testAckRerunError},
		{"AckAfterExit", testAckAfterExit},
		{"AckStop", testAckStop},
		{"AckQueued", testAckQueued},
		{"AckStopError", testAckStopError},
		{"AckStopErrorAfterExit", testAckStopErrorAfterExit},
		{"ReportExit", testReportExit},
		{"ReportExitStopped", testReportExitStopped},
		{"ReportExitUnknown", testReportExitUnknown},
		{"ReportExitQueuedStop", testReportExitQueuedStop},
		{"ReportExitDeliveredStop", testReportExitDeliveredStop},
		{"OutputTail", testOutputTail},
		{"OutputBytes", testOutputBytes},
		{"RunLogAppend", testRunLogAppend},
		{"RunLogCap", testRunLogCap},
		{"RunLogSize", testRunLogSize},
		{"CancelRun", testCancelRun},
		{"StartCommand", testStartCommand},
		{"ExpireRuns", testExpireRuns},
		{"ClaimExpires", testClaimExpires},
		{"ClaimMaxRuns", testClaimMaxRuns},
		{"ClaimMaxRunsConcurrent", testClaimMaxRunsConcurrent},
		{"Ping", testPing},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			c.fn(t, &fixture{t: t, ctx: t.Context(), s: s})
		})
	}
}

// t0 has millisecond precision, the least every engine must keep.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)

// fixture builds the records most checks need on one fresh store.
type fixture struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) user(name string) store.User {
	f.t.Helper()
	u := store.User{ID: "u-" + name, Name: name, CreatedAt: t0}
	f.must(f.s.CreateUser(f.ctx, u))
	return u
}

// agent registers an agent for u on host, with token hash "hash-"+id.
func (f *fixture) agent(u store.User, id, host string) store.Agent {
	f.t.Helper()
	a := store.Agent{ID: id, UserID: u.ID, Hostname: host, OS: "linux", Arch: "amd64", CreatedAt: t0}
	f.must(f.s.RegisterAgent(f.ctx, a, agentToken(a)))
	return a
}

func agentToken(a store.Agent) store.Token {
	return store.Token{ID: "tok-" + a.ID, Hash: "hash-" + a.ID, Kind: token.Agent,
		UserID: a.UserID, AgentID: a.ID, CreatedAt: a.CreatedAt}
}

func (f *fixture) batch(owner store.User, project, id string, at time.Time) store.Batch {
	f.t.Helper()
	b := store.Batch{ID: id, OwnerID: owner.ID, Project: project, Name: "train " + id,
		Snapshot: snapshot(), CreatedAt: at}
	f.must(f.s.CreateBatch(f.ctx, b))
	return b
}

func snapshot() api.EnvSnapshot {
	return api.EnvSnapshot{
		Command: api.CommandLine{Argv: []string{"python", "train.py", "--lr", "0.1"}},
		Cwd:     "/home/alice/exp", Host: "gpu1",
		Env: map[string]string{"CUDA_VISIBLE_DEVICES": "0", "SEED": "7"},
	}
}

// rerunCmd is the rerun command of run runID, queued at at.
func rerunCmd(b store.Batch, a store.Agent, runID string, at time.Time) store.Command {
	id := "cmd-" + runID
	return store.Command{ID: id, AgentID: a.ID, RunID: runID, Kind: api.KindRerun, CreatedAt: at,
		Payload: api.Command{ID: id, Kind: api.KindRerun, RunID: runID, BatchID: b.ID,
			Rerun:     &api.RerunSpec{Command: b.Snapshot.Command, Cwd: b.Snapshot.Cwd, Env: b.Snapshot.Env},
			CreatedAt: at}}
}

// rerun queues a run of b on a and returns the run and its command.
func (f *fixture) rerun(b store.Batch, a store.Agent, runID string, at time.Time) (store.Run, store.Command) {
	f.t.Helper()
	c := rerunCmd(b, a, runID, at)
	r := store.Run{ID: runID, BatchID: b.ID, AgentID: a.ID, RerunCmdID: c.ID, CreatedAt: at}
	f.must(f.s.QueueRerun(f.ctx, r, c))
	return r, c
}

// deliver claims every claimable command of a at at, as the agent's poll
// would, and fails unless command id is among them: only a delivered
// command may be acked.
func (f *fixture) deliver(a store.Agent, id string, at time.Time) {
	f.t.Helper()
	got, err := f.s.ClaimCommands(f.ctx, a.ID, at, time.Minute, 0)
	f.must(err)
	if !slices.Contains(ids(got, cmdID), id) {
		f.t.Fatalf("claim at %v handed out %q, not command %s", at, ids(got, cmdID), id)
	}
}

// running queues a run, delivers it and acks it with pid, so that it is
// running.
func (f *fixture) running(b store.Batch, a store.Agent, runID string, pid int) store.Run {
	f.t.Helper()
	r, c := f.rerun(b, a, runID, t0)
	f.deliver(a, c.ID, t0.Add(time.Second))
	_, _, err := f.s.AckCommand(f.ctx, a.ID, c.ID, api.AckRequest{PID: pid}, t0.Add(time.Second))
	f.must(err)
	r, err = f.s.Run(f.ctx, r.ID)
	f.must(err)
	if r.Status != api.RunRunning {
		f.t.Fatalf("run %s after rerun ack: status %q, want running", r.ID, r.Status)
	}
	return r
}

func stopCmd(r store.Run, id string, at time.Time) store.Command {
	return store.Command{ID: id, AgentID: r.AgentID, RunID: r.ID, Kind: api.KindStop, CreatedAt: at,
		Payload: api.Command{ID: id, Kind: api.KindStop, RunID: r.ID,
			Stop: &api.StopSpec{PID: r.PID, GracePeriodMS: 1500}, CreatedAt: at}}
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// sameTime fails unless got is want, in UTC.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v in UTC", what, got, want.UTC())
	}
}

// sameTimePtr is sameTime for nullable times; want nil means NULL.
func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %v, want nil", what, *got)
	case want != nil && got == nil:
		t.Errorf("%s = nil, want %v", what, *want)
	case want != nil:
		sameTime(t, what, *got, *want)
	}
}

func ptr[T any](v T) *T { return &v }

// samePayload compares two api.Commands, their times by instant.
func samePayload(t *testing.T, what string, got, want api.Command) {
	t.Helper()
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func batchID(b store.Batch) string { return b.ID }
func runID(r store.Run) string     { return r.ID }
func cmdID(c store.Command) string { return c.ID }
func agentID(a store.Agent) string { return a.ID }

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
