package client

import (
	"context"
	"net/http"

	"github.com/argus-exec/argus/server/api"
)

// CreateBatch records a batch. Not retried once sent: a repeat would record
// it twice.
func (c *Client) CreateBatch(ctx context.Context, req api.CreateBatchRequest) (*api.Created, error) {
	var out api.Created
	err := c.do(ctx, call{method: http.MethodPost, path: "/api/batches", in: req, out: &out, unsafe: true})
	return done(&out, err)
}

// Batches lists the batches the caller may see.
func (c *Client) Batches(ctx context.Context) (*api.BatchList, error) {
	var out api.BatchList
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/batches", out: &out})
	return done(&out, err)
}

// Batch returns one batch with its runs.
func (c *Client) Batch(ctx context.Context, id string) (*api.Batch, error) {
	var out api.Batch
	err := c.do(ctx, call{method: http.MethodGet, path: joinPath("api", "batches", id), out: &out})
	return done(&out, err)
}

// Rerun queues a rerun of a recorded batch on its origin host (202). The
// request carries no command; the server takes it from the batch. Not
// retried once sent: a repeat would start a second run.
func (c *Client) Rerun(ctx context.Context, batchID string, req api.RerunRequest) (*api.Queued, error) {
	var out api.Queued
	err := c.do(ctx, call{
		method: http.MethodPost, path: joinPath("api", "batches", batchID, "rerun"),
		in: req, out: &out, unsafe: true,
	})
	return done(&out, err)
}

// Runs lists the runs the caller may see.
func (c *Client) Runs(ctx context.Context) (*api.RunList, error) {
	var out api.RunList
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/runs", out: &out})
	return done(&out, err)
}

// Run returns one run: status, PID, exit code or signal, output tail.
func (c *Client) Run(ctx context.Context, runID string) (*api.Run, error) {
	var out api.Run
	err := c.do(ctx, call{method: http.MethodGet, path: joinPath("api", "runs", runID), out: &out})
	return done(&out, err)
}

// Stop queues a stop of a running run (202). Not retried once sent: a
// repeat would answer 409 for a stop that did go through.
func (c *Client) Stop(ctx context.Context, runID string, req api.StopRequest) (*api.Queued, error) {
	var out api.Queued
	err := c.do(ctx, call{
		method: http.MethodPost, path: joinPath("api", "runs", runID, "stop"),
		in: req, out: &out, unsafe: true,
	})
	return done(&out, err)
}

// Agents lists the caller's agents with their online state.
func (c *Client) Agents(ctx context.Context) (*api.AgentList, error) {
	var out api.AgentList
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/agents", out: &out})
	return done(&out, err)
}

// Share adds user as a recipient of project, which the caller must own.
func (c *Client) Share(ctx context.Context, project, user string) (*api.Project, error) {
	var out api.Project
	err := c.do(ctx, call{
		method: http.MethodPost, path: joinPath("api", "projects", project, "recipients"),
		in: api.ShareRequest{User: user}, out: &out,
	})
	return done(&out, err)
}

// Unshare removes user from project's recipients (204); they lose access
// at once. Not retried once sent: a repeat would answer 404 for an unshare
// that did go through.
func (c *Client) Unshare(ctx context.Context, project, user string) error {
	return c.do(ctx, call{
		method: http.MethodDelete, path: joinPath("api", "projects", project, "recipients", user),
		unsafe: true,
	})
}
