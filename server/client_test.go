package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/apispec"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

func newClient(t *testing.T, h *harness, tok string) *client.Client {
	t.Helper()
	c, err := client.New(h.url, tok, client.Options{RetryMax: -1, Timeout: 10 * time.Second, Transport: apispec.Wrap(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientDrivesEveryRoute walks the whole user and agent flow through
// the client package against the real server.
func TestClientDrivesEveryRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	ctx := context.Background()
	alice := newClient(t, h, h.user("alice"))
	bob := newClient(t, h, h.user("bob"))

	created, err := alice.CreateBatch(ctx, api.CreateBatchRequest{Project: "mnist", Name: "lr-0.1",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Shell: "python train.py"}, Cwd: "/srv", Host: "gpu-01"}})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := alice.Register(ctx, api.RegisterRequest{Hostname: "gpu-01", Label: "a", OS: "linux"})
	if err != nil || !strings.HasPrefix(reg.Token, "ag_live_") {
		t.Fatalf("register: %+v %v", reg, err)
	}
	agent := alice.WithToken(reg.Token)
	if err := agent.Heartbeat(ctx, reg.AgentID); err != nil {
		t.Fatal(err)
	}
	agents, err := alice.Agents(ctx, client.ListOptions{})
	if err != nil || len(agents.Agents) != 1 || !agents.Agents[0].Online {
		t.Fatalf("agents: %+v %v", agents, err)
	}

	polled := make(chan *api.JobList, 1)
	go func() {
		jobs, err := agent.Jobs(ctx, reg.AgentID, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		polled <- jobs
	}()
	q, err := alice.Rerun(ctx, created.ID, api.RerunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := <-polled
	if jobs == nil || len(jobs.Commands) != 1 || jobs.Commands[0].Rerun.Command.Shell != "python train.py" {
		t.Fatalf("long-polled jobs = %+v", jobs)
	}
	if _, err := agent.Ack(ctx, reg.AgentID, q.CmdID, api.AckRequest{PID: 321}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Stop(ctx, q.RunID, api.StopRequest{}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("bob's stop: %v, want ErrForbidden", err)
	}
	if _, err := bob.Share(ctx, "mnist", "bob"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("bob sharing alice's project: %v, want ErrForbidden", err)
	}
	if _, err := alice.Share(ctx, "mnist", "bob"); err != nil {
		t.Fatal(err)
	}
	sq, err := bob.Stop(ctx, q.RunID, api.StopRequest{GracePeriod: "1s"}) // a recipient may stop
	if err != nil {
		t.Fatal(err)
	}
	if jobs, err = agent.Jobs(ctx, reg.AgentID, 0); err != nil || len(jobs.Commands) != 1 || jobs.Commands[0].ID != sq.CmdID {
		t.Fatalf("stop jobs: %+v %v", jobs, err)
	}
	if _, err := agent.Ack(ctx, reg.AgentID, sq.CmdID, api.AckRequest{Outcome: api.StopTerminated}); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.ReportExit(ctx, reg.AgentID, q.RunID, api.ExitReport{Signal: "SIGTERM"}); err != nil {
		t.Fatal(err)
	}
	run, err := bob.Run(ctx, q.RunID)
	if err != nil || run.Status != api.RunStopped || run.PID != 321 || run.StopOutcome != api.StopTerminated {
		t.Fatalf("run: %+v %v", run, err)
	}
	runs, err := bob.Runs(ctx, client.RunsOptions{})
	if err != nil || len(runs.Runs) != 1 {
		t.Fatalf("bob's runs: %+v %v", runs, err)
	}
	batch, err := bob.Batch(ctx, created.ID)
	if err != nil || len(batch.Runs) != 1 || batch.Owner != "alice" {
		t.Fatalf("batch: %+v %v", batch, err)
	}
}

// TestClientTypedErrors proves each error class reaches callers as a
// sentinel they can test with errors.Is, and that none changed the store.
func TestClientTypedErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{MaxBodyBytes: 2048})
	ctx := context.Background()
	aliceTok := h.user("alice")
	alice, bob := newClient(t, h, aliceTok), newClient(t, h, h.user("bob"))
	id := h.batch(aliceTok, "mnist", "gpu-01")
	revoked := newClient(t, h, h.user("eve"))
	h.revoke(h.tokenFor("eve"))
	before := h.snapshot()
	big := api.CreateBatchRequest{Project: "p", Name: strings.Repeat("n", 4096),
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"true"}}, Cwd: "/", Host: "h"}}
	bad := api.CreateBatchRequest{Project: "p"}
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"revoked", func() error { _, err := revoked.Batches(ctx, client.ListOptions{}); return err }, client.ErrUnauthorized},
		{"not the owner", func() error { _, err := bob.Rerun(ctx, id, api.RerunRequest{}); return err }, client.ErrForbidden},
		{"unknown batch", func() error { _, err := alice.Batch(ctx, "bat_unknown"); return err }, client.ErrNotFound},
		{"no agent online", func() error { _, err := alice.Rerun(ctx, id, api.RerunRequest{}); return err }, client.ErrConflict},
		{"oversized", func() error { _, err := alice.CreateBatch(ctx, big); return err }, client.ErrTooLarge},
		{"invalid batch", func() error { _, err := alice.CreateBatch(ctx, bad); return err }, client.ErrBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			err := c.call()
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), "_live_") {
				t.Fatalf("error text holds a token: %v", err)
			}
			h.unchanged(before, c.name)
		})
	}
}
