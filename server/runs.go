package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// handleRerun queues the batch's recorded command on an online agent of the
// batch's owner on the batch's origin host. The request names no command.
func (s *Server) handleRerun(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	b, err := s.visibleBatch(r.Context(), r.PathValue("id"), control)
	if err != nil {
		return err
	}
	var req api.RerunRequest
	if err := s.decode(w, r, &req, true); err != nil {
		return err
	}
	if err := checkLine("agent_id", req.AgentID, api.MaxID); err != nil {
		return err
	}
	timeout, err := parseTimeout(req.Timeout)
	if err != nil {
		return err
	}
	by, err := s.callerName(r.Context())
	if err != nil {
		return err
	}
	once := onceFor(r, key, fmt.Sprintf("rerun %s agent=%q timeout=%q", b.ID, req.AgentID, req.Timeout))
	if done, err := s.replay(w, r, once); done || err != nil {
		return err
	}
	q, err := s.queueRerun(r.Context(), b, req.AgentID, by, timeout, once)
	if errors.Is(err, store.ErrExists) && once != nil {
		// The same key came twice at once: the other one queued it.
		if done, err := s.replay(w, r, once); done || err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, q)
	return nil
}

// queueRerun is the part of a rerun shared by the API and the web UI: the
// caller has already checked that the user may control b; by is that
// user's name. It picks the agent (409 when none is online), stores the
// queued run with its command and wakes the agent's poll. A timeout of 0
// is none. once, when set, is the request's Idempotency-Key record,
// written with the run.
func (s *Server) queueRerun(ctx context.Context, b store.Batch, agentID, by string, timeout time.Duration, once *store.Idempotency) (api.Queued, error) {
	agent, err := s.pickAgent(ctx, b, agentID)
	if err != nil {
		return api.Queued{}, err
	}
	now := s.cfg.Now().UTC()
	run := store.Run{
		ID: newID("run"), BatchID: b.ID, AgentID: agent.ID, Status: api.RunQueued, CreatedAt: now,
		RequestedBy: by, Timeout: timeout,
	}
	cmd := store.Command{
		ID: newID("cmd"), AgentID: agent.ID, RunID: run.ID, Kind: api.KindRerun, State: store.CmdQueued, CreatedAt: now,
	}
	run.RerunCmdID = cmd.ID
	cmd.Payload = api.Command{
		ID: cmd.ID, Kind: api.KindRerun, RunID: run.ID, BatchID: b.ID, CreatedAt: now,
		Rerun: &api.RerunSpec{
			Command: b.Snapshot.Command, Cwd: b.Snapshot.Cwd, Env: b.Snapshot.Env,
			RequestedBy: by, TimeoutMS: timeout.Milliseconds(),
		},
		ExpiresAt: s.expiresAt(now),
	}
	q := api.Queued{RunID: run.ID, CmdID: cmd.ID}
	if once == nil {
		err = s.store.QueueRerun(ctx, run, cmd)
	} else {
		s.answered(once, http.StatusAccepted, q)
		err = s.store.QueueRerunOnce(ctx, run, cmd, *once)
	}
	if err != nil {
		return api.Queued{}, err
	}
	s.notify(ctx, agent.ID)
	return q, nil
}

// pickAgent finds where a rerun goes: the owner's online agent on the
// origin host, the most recently heard from if there are several, or the
// one asked for.
func (s *Server) pickAgent(ctx context.Context, b store.Batch, want string) (store.Agent, error) {
	agents, err := s.store.AgentsOnHost(ctx, b.OwnerID, b.Snapshot.Host)
	if err != nil {
		return store.Agent{}, err
	}
	var best store.Agent
	for _, a := range agents {
		if !s.online(a) || (want != "" && a.ID != want) {
			continue
		}
		if best.ID == "" || a.LastHeartbeat.After(best.LastHeartbeat) {
			best = a
		}
	}
	if best.ID == "" {
		if want != "" {
			return best, errorf(http.StatusConflict, "agent %s is not an online agent of the batch owner on host %s", want, b.Snapshot.Host)
		}
		return best, errorf(http.StatusConflict, "no agent of the batch owner is online on host %s: start argus-agent there", b.Snapshot.Host)
	}
	return best, nil
}

// online: not revoked, a heartbeat within the window, and none of the
// agent's goodbyes since that heartbeat (a clean shutdown is offline at
// once, a crash after the window).
func (s *Server) online(a store.Agent) bool {
	return !a.Revoked && !a.LastHeartbeat.IsZero() && s.cfg.Now().Sub(a.LastHeartbeat) <= s.cfg.OnlineWindow &&
		a.LastHeartbeat.After(a.OfflineAt)
}

// parseTimeout reads a rerun's timeout: empty is none; otherwise a Go
// duration above zero and at most api.MaxRunTimeout. Whole milliseconds,
// since that is what the command carries.
func parseTimeout(v string) (time.Duration, error) {
	if err := checkLine("timeout", v, api.MaxTimeout); err != nil || v == "" {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Millisecond || d > api.MaxRunTimeout {
		return 0, errorf(http.StatusBadRequest, "timeout must be a duration above 0 and at most %.0fh (30 days), such as 6h", api.MaxRunTimeout.Hours())
	}
	return d.Truncate(time.Millisecond), nil
}

// notify wakes the agent's held poll. A failed notify is logged, not
// returned: the command is stored and the next poll picks it up.
func (s *Server) notify(ctx context.Context, agentID string) {
	// The command is committed: its wake-up must go out even if the user's
	// request is cancelled now, or the agent waits out a whole hold.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.waker.Notify(ctx, agentID); err != nil {
		s.log.Warn().Err(err).Str("agent_id", agentID).Msg("wake-up failed; the agent's next poll will see the command")
	}
}

// visibleRun loads a run whose batch the caller may use.
func (s *Server) visibleRun(ctx context.Context, id string, want access) (store.Run, error) {
	run, err := s.store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return run, errorf(http.StatusNotFound, "no run %s", id)
	}
	if err != nil {
		return run, err
	}
	if _, err := s.visibleBatch(ctx, run.BatchID, want); err != nil {
		var he *httpError
		if errors.As(err, &he) && he.code == http.StatusForbidden {
			return run, errorf(http.StatusForbidden, "run %s: %s", id, he.msg)
		}
		return run, err
	}
	return run, nil
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.visibleRun(r.Context(), r.PathValue("run_id"), view)
	if err != nil {
		return err
	}
	out := run.API()
	if err := s.describeQueued(r.Context(), &out); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	run, err := s.visibleRun(r.Context(), r.PathValue("run_id"), control)
	if err != nil {
		return err
	}
	var req api.StopRequest
	if err := s.decode(w, r, &req, true); err != nil {
		return err
	}
	if err := checkLine("grace_period", req.GracePeriod, api.MaxGracePeriod); err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	var grace time.Duration
	if req.GracePeriod != "" {
		// Zero is refused rather than sent: on the wire 0 means "the
		// agent's default", and a 0s that silently became 10s would lie.
		if grace, err = time.ParseDuration(req.GracePeriod); err != nil || grace < time.Millisecond || grace > 24*time.Hour {
			return errorf(http.StatusBadRequest, "grace_period must be a duration between 1ms and 24h, such as 30s (omit it for the agent's default)")
		}
	}
	by, err := s.callerName(r.Context())
	if err != nil {
		return err
	}
	once := onceFor(r, key, fmt.Sprintf("stop %s grace=%q reason=%q", run.ID, req.GracePeriod, req.Reason))
	if done, err := s.replay(w, r, once); done || err != nil {
		return err
	}
	q, err := s.queueStop(r.Context(), run, stopAsk{grace: grace, by: by, reason: req.Reason})
	if err != nil {
		return err
	}
	if once != nil {
		s.answered(once, http.StatusAccepted, q)
		if err := s.store.SaveIdempotency(r.Context(), *once); err != nil && !errors.Is(err, store.ErrExists) {
			s.log.Warn().Err(err).Str("run_id", run.ID).Msg("stop queued, but its Idempotency-Key could not be kept")
		}
	}
	writeJSON(w, http.StatusAccepted, q)
	return nil
}

// stopAsk is a stop as asked for: grace 0 means the agent's default; by
// is the asking user's name and reason their (checked) text, both
// recorded on the run and sent to the agent.
type stopAsk struct {
	grace      time.Duration
	by, reason string
}

// queueStop is the part of a stop shared by the API and the web UI: the
// caller has already checked that the user may control the run. A queued
// run is cancelled instead (queue.go); otherwise 409 unless it is running.
func (s *Server) queueStop(ctx context.Context, run store.Run, ask stopAsk) (api.Queued, error) {
	if run.Status == api.RunQueued {
		return s.cancelQueued(ctx, run, ask)
	}
	if run.Status != api.RunRunning {
		return api.Queued{}, errorf(http.StatusConflict, "run %s is %s, not running", run.ID, run.Status)
	}
	now := s.cfg.Now().UTC()
	cmd := store.Command{
		ID: newID("cmd"), AgentID: run.AgentID, RunID: run.ID, Kind: api.KindStop, State: store.CmdQueued, CreatedAt: now,
	}
	cmd.Payload = api.Command{
		ID: cmd.ID, Kind: api.KindStop, RunID: run.ID, BatchID: run.BatchID, CreatedAt: now,
		Stop: &api.StopSpec{PID: run.PID, StartedAt: run.StartedAt, GracePeriodMS: ask.grace.Milliseconds(),
			StoppedBy: ask.by, Reason: ask.reason},
	}
	_, err := s.store.QueueStop(ctx, run.ID, cmd)
	if errors.Is(err, store.ErrConflict) {
		return api.Queued{}, errorf(http.StatusConflict, "run %s is no longer running", run.ID)
	}
	if err != nil {
		return api.Queued{}, err
	}
	s.notify(ctx, run.AgentID)
	return api.Queued{RunID: run.ID, CmdID: cmd.ID}, nil
}
