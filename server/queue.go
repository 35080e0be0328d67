package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// The life of a queued rerun (README "Queued reruns"). A rerun is started
// only after its agent's POST …/jobs/{cmd_id}/start says yes; from then on
// it can no longer be cancelled. So:
//   - a stop of a queued run whose agent has not asked yet cancels it, and
//     the agent, asking, is told not to start it, even if it holds the
//     command in a poll answer;
//   - a stop that lands after the agent asked waits (up to startWait) for
//     the PID ack and then stops the run like any running one: it started,
//     and is recorded as started and stopped;
//   - a rerun not starting by its expires_at (created + --queue-ttl) is
//     expired, by a claim, by the start step, by the sweep or on read.

// startWait bounds how long a stop waits for a starting run's PID: the
// agent asks to start right before it spawns, so the PID normally follows
// within milliseconds; an agent frozen in between gets its stop refused.
const startWait = 5 * time.Second

// handleStart is the agent's question before it starts a rerun.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) error {
	agentID, cmdID := r.PathValue("agent_id"), r.PathValue("cmd_id")
	run, start, err := s.store.StartCommand(r.Context(), agentID, cmdID, s.cfg.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no command %s for this agent", cmdID)
	}
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "command %s is not a delivered rerun", cmdID)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.StartAnswer{CmdID: cmdID, Start: start, RunStatus: run.Status})
	return nil
}

// cancelQueued is a stop of a queued run: cancelled when its agent has not
// started it, stopped once running when it has (see the top of the file).
func (s *Server) cancelQueued(ctx context.Context, run store.Run, ask stopAsk) (api.Queued, error) {
	cancelled, err := s.store.CancelRun(ctx, run.ID, ask.by, ask.reason, s.cfg.Now().UTC())
	switch {
	case err == nil:
		s.log.Info().Str("run_id", run.ID).Msg("queued run cancelled")
		// A cancelled rerun the agent held counted against its --max-runs:
		// wake its poll so the next waiting rerun goes out now.
		s.notify(ctx, run.AgentID)
		s.notifyLog(ctx, run.ID)
		s.wakeWebhooks()
		return api.Queued{RunID: cancelled.ID, CmdID: cancelled.RerunCmdID}, nil
	case errors.Is(err, store.ErrStarting), errors.Is(err, store.ErrConflict):
		// Starting, or no longer queued (started, or ended, since it was
		// read): stop it as it now is.
		s.log.Info().Str("run_id", run.ID).Msg("stop of a starting run: waiting for its PID")
		now, err := s.awaitStart(ctx, run.ID)
		if err != nil {
			return api.Queued{}, err
		}
		return s.queueStop(ctx, now, ask)
	}
	return api.Queued{}, err
}

// awaitStart polls a starting run until its agent acks it (startWait at
// most): a read every 10 ms on a path that only a stop racing a start takes.
func (s *Server) awaitStart(ctx context.Context, runID string) (store.Run, error) {
	deadline := time.Now().Add(startWait)
	for {
		run, err := s.store.Run(ctx, runID)
		if err != nil || run.Status != api.RunQueued {
			return run, err
		}
		if time.Now().After(deadline) {
			return run, errorf(http.StatusConflict, "run %s is starting on its agent and has no PID yet: stop it again in a moment", runID)
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// describeQueued completes what a user sees of a queued run: its deadline
// and why it is waiting. A run past its deadline is expired here and now,
// so reads show the expiry on time whatever the sweep's phase.
func (s *Server) describeQueued(ctx context.Context, out *api.Run) error {
	if out.Status != api.RunQueued {
		return nil
	}
	w, err := s.store.Waiting(ctx, out.ID)
	if err != nil {
		return err
	}
	pending := w.CmdState == store.CmdQueued || w.CmdState == store.CmdDelivered
	if now := s.cfg.Now(); pending && w.ExpiresAt != nil && now.After(*w.ExpiresAt) {
		if _, err := s.store.ExpireRuns(ctx, now.UTC()); err != nil {
			return err
		}
		run, err := s.store.Run(ctx, out.ID)
		if err != nil {
			return err
		}
		*out = run.API()
		return nil
	}
	out.ExpiresAt = w.ExpiresAt
	if w.CmdState != store.CmdQueued {
		return nil
	}
	if w.MaxRuns > 0 && w.Busy >= w.MaxRuns {
		out.WaitingReason = fmt.Sprintf("host busy (%d/%d runs)", w.Busy, w.MaxRuns)
		return nil
	}
	if a, err := s.store.Agent(ctx, out.AgentID); err == nil && !s.online(a) {
		out.WaitingReason = "agent offline"
	}
	return nil
}

// apiRuns is runs as the API shows them, the queued ones saying why they
// wait: what every list of runs answers, in the API and the UI.
func (s *Server) apiRuns(ctx context.Context, runs []store.Run) ([]api.Run, error) {
	out := make([]api.Run, len(runs))
	for i, r := range runs {
		out[i] = r.API()
	}
	return out, s.describeRuns(ctx, out)
}

// describeRuns is describeQueued over a list.
func (s *Server) describeRuns(ctx context.Context, runs []api.Run) error {
	for i := range runs {
		if err := s.describeQueued(ctx, &runs[i]); err != nil {
			return err
		}
	}
	return nil
}

// sweepExpired expires overdue queued runs every interval until ctx ends,
// so a run expires on time even when nobody reads it or polls for it. Each
// replica sweeps; the store's row locks keep them from expiring a run twice.
func (s *Server) sweepExpired(ctx context.Context) {
	if s.cfg.QueueTTL <= 0 {
		return
	}
	tick := time.NewTicker(min(time.Second, s.cfg.QueueTTL/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n, err := s.store.ExpireRuns(ctx, s.cfg.Now().UTC()); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("expiring queued runs failed; retrying")
		} else if n > 0 {
			s.log.Info().Int("runs", n).Msg("queued runs expired")
			s.wakeWebhooks()
		}
	}
}

// expiresAt is a new rerun's deadline, nil when queued reruns never expire.
func (s *Server) expiresAt(now time.Time) *time.Time {
	if s.cfg.QueueTTL <= 0 {
		return nil
	}
	at := now.Add(s.cfg.QueueTTL)
	return &at
}

// parseMaxRuns reads the jobs poll's ?max_runs=, the agent's --max-runs.
// Absent is 0, no limit, which is what an older agent means.
func parseMaxRuns(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > api.MaxMaxRuns {
		return 0, errorf(http.StatusBadRequest, "max_runs must be a whole number from 0 to %d", api.MaxMaxRuns)
	}
	return n, nil
}
