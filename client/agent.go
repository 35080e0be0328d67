package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// Register creates an agent for this host. The client must hold the user's
// em_live_ token; the answer carries the agent's ag_live_ token (use
// WithToken). Not retried once sent: a repeat would register a second agent.
func (c *Client) Register(ctx context.Context, req api.RegisterRequest) (*api.RegisterResponse, error) {
	var out api.RegisterResponse
	err := c.do(ctx, call{method: http.MethodPost, path: "/api/agents/register", in: req, out: &out, unsafe: true})
	return done(&out, err)
}

// Jobs long-polls for the agent's queued commands: the server holds the
// request up to wait and answers an empty list when nothing arrived. The
// call's deadline is wait+LongPollGrace (never less than the client's
// Timeout), so the hold ends before the client gives up. wait <= 0 asks for
// an immediate answer.
func (c *Client) Jobs(ctx context.Context, agentID string, wait time.Duration) (*api.JobList, error) {
	return c.JobsUpTo(ctx, agentID, wait, 0)
}

// JobsUpTo is Jobs for an agent that runs at most maxRuns runs at once
// (its --max-runs; 0: no limit): the server holds back new reruns while
// that many of the agent's runs are running. An older server ignores it.
func (c *Client) JobsUpTo(ctx context.Context, agentID string, wait time.Duration, maxRuns int) (*api.JobList, error) {
	q := url.Values{}
	timeout := c.timeout
	if wait > 0 {
		q.Set("wait", wait.String())
		timeout = max(timeout, wait+LongPollGrace)
	}
	if maxRuns > 0 {
		q.Set("max_runs", strconv.Itoa(maxRuns))
	}
	var out api.JobList
	err := c.do(ctx, call{
		method: http.MethodGet, path: agentPath(agentID, "jobs"),
		query: q, out: &out, timeout: timeout, resources: true,
		header: func(h http.Header) {
			out.HeldPollHeartbeat = h.Get(api.HeaderHeartbeat) == api.HeartbeatHeldPoll
		},
	})
	return done(&out, err)
}

// Ack acknowledges a command. Acks are idempotent on the server, so they
// are retried like any safe call.
func (c *Client) Ack(ctx context.Context, agentID, cmdID string, ack api.AckRequest) (*api.Ack, error) {
	var out api.Ack
	err := c.do(ctx, call{
		method: http.MethodPost, path: agentPath(agentID, "jobs", cmdID, "ack"),
		in: ack, out: &out,
	})
	return done(&out, err)
}

// StartCommand asks the server, right before starting a delivered rerun,
// whether it still should: Start false when the run was cancelled or
// expired meanwhile.
func (c *Client) StartCommand(ctx context.Context, agentID, cmdID string) (*api.StartAnswer, error) {
	var out api.StartAnswer
	err := c.do(ctx, call{method: http.MethodPost, path: agentPath(agentID, "jobs", cmdID, "start"), out: &out})
	return done(&out, err)
}

// Heartbeat keeps the agent online (204 No Content).
func (c *Client) Heartbeat(ctx context.Context, agentID string) error {
	_, err := c.HeartbeatPolls(ctx, agentID)
	return err
}

// HeartbeatPolls is Heartbeat that also says whether the server counts
// the agent's held polls as heartbeats (Argus-Heartbeat: held-poll): an
// agent whose polls succeed then needs no more heartbeats.
func (c *Client) HeartbeatPolls(ctx context.Context, agentID string) (pollsBeat bool, err error) {
	err = c.do(ctx, call{
		method: http.MethodPost, path: agentPath(agentID, "heartbeat"), resources: true,
		header: func(h http.Header) { pollsBeat = h.Get(api.HeaderHeartbeat) == api.HeartbeatHeldPoll },
	})
	return pollsBeat, err
}

// Offline tells the server the agent is stopping cleanly, so it shows
// offline at once (204 No Content). ctx bounds it, retries included: a
// goodbye must not hold up a shutdown.
func (c *Client) Offline(ctx context.Context, agentID string) error {
	return c.do(ctx, call{method: http.MethodPost, path: agentPath(agentID, "offline")})
}

// Restarted tells the server the agent has just started and holds the
// commands holding (api.RestartedRequest); it answers how many other
// deliveries it hands out again.
func (c *Client) Restarted(ctx context.Context, agentID string, holding []string) (int, error) {
	var out api.Released
	err := c.do(ctx, call{method: http.MethodPost, path: agentPath(agentID, "restarted"),
		in: api.RestartedRequest{Holding: holding}, out: &out})
	return out.Released, err
}

// ReportExit reports how a run ended and returns the run as the server now
// has it.
func (c *Client) ReportExit(ctx context.Context, agentID, runID string, rep api.ExitReport) (*api.Run, error) {
	var out api.Run
	err := c.do(ctx, call{
		method: http.MethodPost, path: agentPath(agentID, "runs", runID, "exit"),
		in: rep, out: &out,
	})
	return done(&out, err)
}

// AppendRunLog sends a piece of a run's output starting at offset, and
// returns the offset the server wants next (beyond offset+len(data) never;
// equal to it unless the server had some of the bytes). An empty data at
// offset 0 only asks where to go on. An offset past what the server has
// is ErrConflict; ask again from 0 to learn where. Appends are idempotent
// (bytes the server has are skipped), so they are retried as safe calls.
func (c *Client) AppendRunLog(ctx context.Context, agentID, runID string, offset int64, data []byte) (int64, error) {
	var out api.LogAppended
	if data == nil {
		data = []byte{}
	}
	err := c.do(ctx, call{
		method: http.MethodPost, path: agentPath(agentID, "runs", runID, "log"),
		query: url.Values{"offset": {strconv.FormatInt(offset, 10)}}, raw: data, out: &out,
	})
	return out.Next, err
}

func agentPath(agentID string, rest ...string) string {
	return joinPath(append([]string{"api", "agents", agentID}, rest...)...)
}

// joinPath escapes each segment, so an id can never reach another route.
func joinPath(segments ...string) string {
	p := ""
	for _, s := range segments {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// done returns out only on success, so callers never see a half-filled
// struct next to an error.
func done[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}
