package agent

import (
	"context"
	"errors"
	"time"

	"github.com/argus-exec/argus/client"
)

// outboxLoop delivers acks and exit reports that the journal says the
// server has not yet got, until it has them: woken on every new one,
// retried with capped backoff while the server is unreachable.
func (d *daemon) outboxLoop(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	var wait time.Duration
	var back <-chan struct{} // while backing off: the server's return ends the wait
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-retry.C:
		case <-back:
			retry.Stop()
		case <-prune.C:
			d.journal.prune(7 * 24 * time.Hour)
			continue
		}
		back = d.link.serverBack()
		if d.flush(ctx) {
			wait, back = 0, nil
			continue
		}
		if ctx.Err() != nil {
			return
		}
		wait = nextBackoff(wait, d.cfg.MaxBackoff)
		retry.Reset(wait)
	}
}

// flush sends everything pending; false when something must be retried.
// One record the server keeps failing does not hold back the others.
func (d *daemon) flush(ctx context.Context) bool {
	ok := true
	if err := d.journal.retryDirty(); err != nil {
		d.log.Error().Err(err).Msg("journal still cannot be written")
		ok = false
	}
	for _, rec := range d.journal.records() {
		if ctx.Err() != nil {
			return false
		}
		c := d.conn()
		if rec.Ack != nil && !rec.AckSent {
			_, err := c.Ack(ctx, d.agentID, rec.CmdID, *rec.Ack)
			if !d.delivered(ctx, c, rec.CmdID, "ack", err, func(r *Record) { r.AckSent = true }) {
				ok = false
				continue // an exit goes after its ack
			}
		}
		if rec.Exit != nil && !rec.ExitSent {
			_, err := c.ReportExit(ctx, d.agentID, rec.RunID, *rec.Exit)
			// Once the server has the tail, the journal need not carry it.
			ok = d.delivered(ctx, c, rec.CmdID, "exit", err, func(r *Record) { r.ExitSent = true; r.Exit.OutputTail, r.Exit.OutputTailB64 = "", nil }) && ok
		}
	}
	return ok
}

// delivered settles one send: done on success, and also on an answer that
// no retry can change (the server knows nothing of the run, or refuses the
// report), which is logged rather than retried for ever.
func (d *daemon) delivered(ctx context.Context, c *client.Client, cmdID, what string, err error, mark func(*Record)) bool {
	switch {
	case err == nil:
	case d.rejected(ctx, c, err), errors.Is(err, client.ErrUnauthorized): // renewed: sent on the next round
		return false
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrBadRequest),
		errors.Is(err, client.ErrConflict), errors.Is(err, client.ErrForbidden), errors.Is(err, client.ErrTooLarge):
		d.log.Warn().Err(err).Str("cmd_id", cmdID).Msgf("server refused the %s; dropping it", what)
	default:
		d.log.Warn().Err(err).Str("cmd_id", cmdID).Msgf("sending the %s failed; will retry", what)
		return false
	}
	if _, err := d.journal.update(cmdID, mark); err != nil {
		d.log.Error().Err(err).Msg("journal write failed")
	}
	return true
}
