package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// lateBy says how far past its deadline a rerun is at now, or 0. The
// deadline is measured on this agent's own clock, never compared with the
// server's: the server sends the time left (expires_at − delivered_at,
// both its clock) and the agent counts it from when the poll answer
// arrived (received, with its monotonic reading). Clock skew between the
// hosts therefore does not matter; the agent's deadline falls late by the
// poll answer's transit time at most, and the server, whose clock decides,
// refuses the start step past expires_at anyway.
func lateBy(c api.Command, received, now time.Time) time.Duration {
	if c.ExpiresAt == nil || c.DeliveredAt == nil {
		return 0
	}
	deadline := received.Add(c.ExpiresAt.Sub(*c.DeliveredAt))
	if !now.After(deadline) {
		return 0
	}
	return now.Sub(deadline)
}

// refuseExpired journals and acks a rerun that came past its deadline, so
// it is never started, even when delivered again.
func (d *daemon) refuseExpired(c api.Command, late time.Duration) {
	d.log.Warn().Str("cmd_id", c.ID).Str("run_id", c.RunID).Dur("late", late).
		Msg("rerun skipped: it arrived past its deadline (expires_at); not starting it")
	err := d.journal.create(Record{CmdID: c.ID, Kind: api.KindRerun, RunID: c.RunID, BatchID: c.BatchID, State: stateFailed,
		Ack: &api.AckRequest{Outcome: api.OutcomeExpired, Error: "expired: the agent received it " + late.Round(time.Millisecond).String() + " past its deadline"}})
	if err != nil {
		d.log.Error().Err(err).Msg("cannot journal the refusal")
	}
	d.kickOutbox()
}

// mayStart is the start step: the server says whether the run still wants
// starting, and from its yes on the run cannot be cancelled. A run
// cancelled or expired meanwhile is skipped, never started. When the
// server cannot be asked, nothing is started and the record rerun
// journaled meanwhile is taken back: the command comes back when its lease
// ends, is asked about again and started on a yes. A server without the
// step (404) predates cancelling, so the run is started as before. It runs
// beside the journal write (rerun), so it must not touch the journal.
func (d *daemon) mayStart(ctx context.Context, c api.Command) bool {
	log := d.log.With().Str("cmd_id", c.ID).Str("run_id", c.RunID).Logger()
	c0 := d.conn()
	ans, err := c0.StartCommand(ctx, d.agentID, c.ID)
	if errors.Is(err, client.ErrUnauthorized) && !d.rejected(ctx, c0, err) {
		// --reregister replaced the token meanwhile: ask again with the new one.
		ans, err = d.conn().StartCommand(ctx, d.agentID, c.ID)
	}
	switch {
	case err == nil && ans.Start:
		return true
	case err == nil:
		log.Info().Str("run_status", string(ans.RunStatus)).Msg("rerun skipped: the run was " + string(ans.RunStatus) + " before it started; not starting it")
		return false
	case noStartStep(err):
		log.Debug().Msg("the server has no start step; starting the run")
		return true
	case ctx.Err() != nil || errors.Is(err, client.ErrUnauthorized) && d.rejected(ctx, d.conn(), err):
		return false
	}
	log.Warn().Err(err).Msg("cannot ask the server whether to start the run; not starting it now (it is delivered again when its lease ends)")
	return false
}

// noStartStep reports whether err says the server predates the start step:
// a 404 that is not argus-server's own JSON error (Go's router answers a
// route it does not have in plain text). A JSON 404 means the server does
// not know the command (another agent's, or ended and gone): never start it.
func noStartStep(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound && !ae.FromArgus
}
