package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/argus-exec/argus/server/api"
)

// CreateBatch records a batch. Not retried once sent: a repeat would record
// it twice.
func (c *Client) CreateBatch(ctx context.Context, req api.CreateBatchRequest) (*api.Created, error) {
	var out api.Created
	err := c.do(ctx, call{method: http.MethodPost, path: "/api/batches", in: req, out: &out, unsafe: true})
	return done(&out, err)
}

// ListOptions picks one page of a list. The zero value is the first page
// of the server's default size (100).
type ListOptions struct {
	// Limit is the page size, 1 to 1000; 0 leaves it to the server.
	Limit int
	// Cursor is the previous page's NextCursor; "" for the first page.
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// RunsOptions is a page of runs and the filters to narrow them by; empty
// filters match every run, and set ones must all match.
type RunsOptions struct {
	ListOptions
	Status  api.RunStatus
	Batch   string // batch id
	Project string // project name
	Agent   string // agent id
}

// Batches lists one page of the batches the caller may see, newest first;
// NextCursor in the answer asks for the next page.
func (c *Client) Batches(ctx context.Context, opts ListOptions) (*api.BatchList, error) {
	var out api.BatchList
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/batches", query: opts.query(), out: &out})
	return done(&out, err)
}

// Batch returns one batch with its runs.
func (c *Client) Batch(ctx context.Context, id string) (*api.Batch, error) {
	var out api.Batch
	err := c.do(ctx, call{method: http.MethodGet, path: joinPath("api", "batches", id), out: &out})
	return done(&out, err)
}

// Rerun queues a rerun of a recorded batch on its origin host (202). The
// request carries no command; the server takes it from the batch. It
// carries an Idempotency-Key of its own, so its retries (a connection
// reset, a 5xx) cannot queue a second run: the server answers a repeat
// with the first answer. When it fails all the same, MayHaveActed says
// whether the run may have been queued.
func (c *Client) Rerun(ctx context.Context, batchID string, req api.RerunRequest) (*api.Queued, error) {
	var out api.Queued
	err := c.do(ctx, call{
		method: http.MethodPost, path: joinPath("api", "batches", batchID, "rerun"),
		in: req, out: &out, idempotencyKey: newIdempotencyKey(),
	})
	return done(&out, err)
}

// Runs lists one page of the runs the caller may see, newest first,
// narrowed by the options' filters; NextCursor asks for the next page.
func (c *Client) Runs(ctx context.Context, opts RunsOptions) (*api.RunList, error) {
	q := opts.query()
	for name, v := range map[string]string{"status": string(opts.Status), "batch": opts.Batch, "project": opts.Project, "agent": opts.Agent} {
		if v != "" {
			q.Set(name, v)
		}
	}
	var out api.RunList
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/runs", query: q, out: &out})
	return done(&out, err)
}

// Run returns one run: status, PID, exit code or signal, output tail.
func (c *Client) Run(ctx context.Context, runID string) (*api.Run, error) {
	var out api.Run
	err := c.do(ctx, call{method: http.MethodGet, path: joinPath("api", "runs", runID), out: &out})
	return done(&out, err)
}

// Stop queues a stop of a running run (202). Like Rerun it carries an
// Idempotency-Key, so a retry gets the first answer, not a 409 for a stop
// that did go through.
func (c *Client) Stop(ctx context.Context, runID string, req api.StopRequest) (*api.Queued, error) {
	var out api.Queued
	err := c.do(ctx, call{
		method: http.MethodPost, path: joinPath("api", "runs", runID, "stop"),
		in: req, out: &out, idempotencyKey: newIdempotencyKey(),
	})
	return done(&out, err)
}

// Agents lists one page of the caller's agents with their online state,
// newest registration first; NextCursor asks for the next page.
func (c *Client) Agents(ctx context.Context, opts ListOptions) (*api.AgentList, error) {
	var out api.AgentList
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/agents", query: opts.query(), out: &out})
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
