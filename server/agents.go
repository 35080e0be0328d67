package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	var req api.RegisterRequest
	// Sent by the agent binary (with a user's token): lenient like every
	// agent body, so a newer agent can register with an older server.
	if err := s.decodeBody(w, r, &req, false, false); err != nil {
		return err
	}
	if err := checkRegister(req); err != nil {
		return err
	}
	// The agent names its token file and service after the label: the
	// server holds it to the same rule (token.ValidLabel).
	if req.Label != "" {
		if err := token.ValidLabel(req.Label); err != nil {
			return errorf(http.StatusBadRequest, "%v", err)
		}
	}
	tok, err := token.New(token.Agent)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	a := store.Agent{
		ID: newID("agt"), UserID: p.UserID, Hostname: req.Hostname, Label: req.Label,
		OS: req.OS, Arch: req.Arch, Version: req.Version, Properties: req.Properties, CreatedAt: now,
	}
	t := store.Token{ID: newID("tok"), Hash: token.Hash(tok), Kind: token.Agent, UserID: p.UserID, CreatedAt: now}
	if req.AgentID != "" {
		err = s.reregister(r, p, &a, t, req.AgentID)
	} else {
		t.AgentID = a.ID
		err = s.store.RegisterAgent(r.Context(), a, t)
	}
	if err != nil {
		return err
	}
	s.log.Info().Str("agent_id", a.ID).Str("hostname", a.Hostname).Str("label", a.Label).
		Bool("reregistered", req.AgentID != "").Msg("agent registered")
	writeJSON(w, http.StatusCreated, api.RegisterResponse{AgentID: a.ID, Token: tok})
	return nil
}

// reregister gives an existing agent of the caller a new token and revokes
// its old ones. The agent keeps its id, so runs it started stay its own and
// their exits and stops still reach it.
func (s *Server) reregister(r *http.Request, p principal, a *store.Agent, t store.Token, id string) error {
	old, err := s.store.Agent(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && old.UserID != p.UserID) {
		return errorf(http.StatusNotFound, "no agent %s of yours to re-register", id)
	}
	if err != nil {
		return err
	}
	a.ID, a.CreatedAt = old.ID, old.CreatedAt
	t.AgentID = old.ID
	if err := s.store.RotateAgentToken(r.Context(), *a, t, t.CreatedAt); err != nil {
		return err
	}
	s.announceRevocation(r.Context()) // the agent's old token
	return nil
}

// handleHeartbeat records that the agent is alive, written behind in
// batches (see heartbeats in beats.go).
func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) error {
	now := s.cfg.Now().UTC()
	if err := s.beats.record(r.Context(), r.PathValue("agent_id"), now); err != nil {
		return err
	}
	s.resources.note(r, r.PathValue("agent_id"), now)
	w.Header().Set(api.HeaderHeartbeat, api.HeartbeatHeldPoll)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleOffline is an agent's goodbye on a clean shutdown: it is offline at
// once (reruns to it answer 409) rather than after the online window, and
// online again with its next heartbeat. No body is read: agent bodies are
// lenient, and there is nothing to say.
func (s *Server) handleOffline(w http.ResponseWriter, r *http.Request) error {
	agentID := r.PathValue("agent_id")
	s.beats.forget(agentID)
	if err := s.store.AgentOffline(r.Context(), agentID, s.cfg.Now().UTC()); err != nil {
		return err
	}
	s.log.Info().Str("agent_id", agentID).Msg("agent went offline")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRestarted hands out again, at once, what was delivered to an agent
// that has just started and does not hold it (api.RestartedRequest).
func (s *Server) handleRestarted(w http.ResponseWriter, r *http.Request) error {
	agentID := r.PathValue("agent_id")
	var req api.RestartedRequest
	if err := s.decode(w, r, &req, true); err != nil {
		return err
	}
	if len(req.Holding) > api.MaxHolding {
		return errorf(http.StatusBadRequest, "holding names %d commands; at most %d", len(req.Holding), api.MaxHolding)
	}
	for _, id := range req.Holding {
		if err := checkLine("holding", id, api.MaxID); err != nil {
			return err
		}
	}
	n, err := s.store.ReleaseDelivered(r.Context(), agentID, req.Holding, s.cfg.Now().UTC())
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info().Str("agent_id", agentID).Int("commands", n).Msg("restarted agent never journaled these deliveries; handing them out again")
		s.notify(r.Context(), agentID)
	}
	writeJSON(w, http.StatusOK, api.Released{Released: n})
	return nil
}

// parseWait reads ?wait= as a Go duration ("30s") or whole seconds ("30").
func parseWait(v string, max time.Duration) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, errorf(http.StatusBadRequest, "wait must be a duration such as 30s")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, errorf(http.StatusBadRequest, "wait must not be negative")
	}
	return min(d, max), nil
}

// handleJobs hands out the agent's commands, and counts as the agent's
// heartbeat (beats.go). With ?wait it holds the
// request until a command is queued (woken through the Waker), a lease of
// one of its commands runs out (so redelivery is not late), the hold ends,
// or the server shuts down; the last two answer an empty list.
func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) error {
	agentID := r.PathValue("agent_id")
	wait, err := parseWait(r.URL.Query().Get("wait"), s.cfg.MaxWait)
	if err != nil {
		return err
	}
	maxRuns, err := parseMaxRuns(r.URL.Query().Get("max_runs"))
	if err != nil {
		return err
	}
	// Every poll is a heartbeat, and a held one goes on being one while it
	// is held: the agent needs no other request to stay online.
	now := s.cfg.Now().UTC()
	if err := s.beats.record(r.Context(), agentID, now); err != nil {
		return err
	}
	s.resources.note(r, agentID, now)
	s.lastPolls.Store(agentID, now)
	w.Header().Set(api.HeaderHeartbeat, api.HeartbeatHeldPoll)
	if wait > 0 {
		if parked, err := s.park(w, r, agentID, wait, maxRuns); parked || err != nil {
			return err
		}
		s.metrics.held.Inc()
		defer s.metrics.held.Dec()
		defer s.shed.holding()()
		defer s.beats.holding(agentID)()
	}
	cmds := []api.Command{}
	err = s.hold(r.Context(), agentID, wait, func() (bool, <-chan time.Time, error) {
		found, next, ok, err := s.lookForWork(r.Context(), agentID, maxRuns)
		if err != nil || len(found) > 0 {
			cmds = found
			return true, nil, err
		}
		if !ok {
			return false, nil, nil
		}
		// Also wake when a lease of the agent's commands ends, so a
		// redelivery is not late.
		return false, time.After(time.Until(next)), nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.JobList{Commands: cmds})
	return nil
}

func (s *Server) claim(ctx context.Context, agentID string, maxRuns int) ([]api.Command, error) {
	now := s.cfg.Now().UTC()
	// At most 20 per answer: each can be up to MaxBodyBytes, and the
	// client caps what it reads; the rest come on the next poll.
	claimed, err := s.store.ClaimCommandsCapped(ctx, agentID, maxRuns, now, s.cfg.Lease, 20)
	if err != nil {
		return nil, err
	}
	out := make([]api.Command, 0, len(claimed))
	for _, c := range claimed {
		if c.Attempts == 1 {
			s.metrics.dispatch.WithLabelValues(c.Kind).Observe(now.Sub(c.CreatedAt).Seconds())
		}
		p := c.Payload
		p.Attempt = c.Attempts
		if p.ExpiresAt != nil {
			p.DeliveredAt = &now // the agent's measure of the time left
		}
		out = append(out, p)
	}
	return out, nil
}

// lookForWork is a poll's look: the commands it claims for the agent or,
// when there are none, when to look again because a lease of one ends
// (ok false: no lease is outstanding). An agent with nothing outstanding,
// what nearly every look finds, costs one read.
func (s *Server) lookForWork(ctx context.Context, agentID string, maxRuns int) (found []api.Command, next time.Time, ok bool, err error) {
	o, err := s.store.LookForWork(ctx, agentID, s.cfg.Now().UTC())
	if err != nil {
		return nil, time.Time{}, false, err
	}
	if o.Claimable {
		if found, err = s.claim(ctx, agentID, maxRuns); err != nil || len(found) > 0 {
			return found, time.Time{}, false, err
		}
		// Nothing handed out (--max-runs is reached): the leases of the
		// commands on their way say when to look again.
		if o.LeaseEnd, o.HasLease, err = s.store.NextLeaseExpiry(ctx, agentID); err != nil {
			return nil, time.Time{}, false, err
		}
	}
	if !o.HasLease {
		return nil, time.Time{}, false, nil
	}
	return nil, s.lookAt(o.LeaseEnd), true, nil
}

// lookAt is when, on this process's clock, to look again for the agent's
// commands because a lease ends at end (store time): a millisecond past
// it, so the claim that follows sees it expired.
func (s *Server) lookAt(end time.Time) time.Time {
	return time.Now().Add(end.Sub(s.cfg.Now()) + time.Millisecond)
}

func (s *Server) handleAck(w http.ResponseWriter, r *http.Request) error {
	agentID, cmdID := r.PathValue("agent_id"), r.PathValue("cmd_id")
	var req api.AckRequest
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	if err := checkAck(&req); err != nil {
		return err
	}
	c, err := s.store.Command(r.Context(), cmdID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.AgentID != agentID) {
		return errorf(http.StatusNotFound, "no command %s for this agent", cmdID)
	}
	if err != nil {
		return err
	}
	if err := validateAck(c.Kind, req); err != nil {
		return err
	}
	c, dup, err := s.store.AckCommand(r.Context(), agentID, cmdID, req, s.cfg.Now().UTC())
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "command %s was never delivered to this agent", cmdID)
	}
	if err != nil {
		return err
	}
	if c.Kind == api.KindRerun && req.Error != "" && !dup {
		s.notify(r.Context(), agentID)    // a slot of --max-runs is free
		s.notifyLog(r.Context(), c.RunID) // it failed to start: its log is complete
		s.wakeWebhooks()
	}
	resp := api.Ack{CmdID: c.ID, State: string(c.State), Duplicate: dup}
	if c.AckedAt != nil {
		resp.AckedAt = *c.AckedAt
	}
	if c.Ack != nil {
		resp.Ack = *c.Ack
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func validateAck(kind string, req api.AckRequest) error {
	switch kind {
	case api.KindRerun:
		if req.Error == "" && req.PID <= 0 {
			return errorf(http.StatusBadRequest, "a rerun ack needs pid > 0, or error when the command could not start")
		}
		if req.Outcome != "" && req.Outcome != api.OutcomeExpired {
			return errorf(http.StatusBadRequest, "a rerun ack's outcome can only be expired")
		}
	case api.KindStop:
		switch req.Outcome {
		case api.StopTerminated, api.StopKilled, api.StopAlreadyGone:
		default:
			if req.Error == "" {
				return errorf(http.StatusBadRequest, "a stop ack needs outcome terminated, killed or already_gone")
			}
		}
	}
	return nil
}

func (s *Server) handleExit(w http.ResponseWriter, r *http.Request) error {
	var req api.ExitReport
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	if req.ExitCode == nil && req.Signal == "" && !req.Unknown {
		return errorf(http.StatusBadRequest, "an exit report needs exit_code, signal, or unknown: true")
	}
	if err := checkExit(req); err != nil {
		return err
	}
	if req.EndedAt.IsZero() {
		req.EndedAt = s.cfg.Now().UTC()
	}
	run, err := s.store.ReportExit(r.Context(), r.PathValue("agent_id"), r.PathValue("run_id"), req)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no run %s on this agent", r.PathValue("run_id"))
	}
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "run %s was never acked as started: ack its rerun first", r.PathValue("run_id"))
	}
	if err != nil {
		return err
	}
	// A run ended: a rerun held back by the agent's --max-runs may go now,
	// and its log's readers learn that it is complete.
	s.notify(r.Context(), r.PathValue("agent_id"))
	s.notifyLog(r.Context(), run.ID)
	s.wakeWebhooks()
	writeJSON(w, http.StatusOK, run.API())
	return nil
}

// recheckAfter stands in for a wake-up subscription: it fires once after d.
func recheckAfter(d time.Duration) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	t := time.AfterFunc(d, func() { close(ch) })
	return ch, func() { t.Stop() }
}
