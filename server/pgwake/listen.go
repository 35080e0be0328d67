package pgwake

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/argus-exec/argus/server/store/postgres"
)

// listen opens a connection and LISTENs on the channel.
func (w *Waker) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, w.connCfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{w.cfg.Channel}.Sanitize()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// run receives on conn until it fails, then reconnects with backoff, until
// ctx ends.
func (w *Waker) run(ctx context.Context, conn *pgx.Conn) {
	defer close(w.done)
	for {
		err := w.receive(ctx, conn)
		w.setDown()
		conn.Close(context.Background()) //nolint:errcheck // it failed already
		if ctx.Err() != nil {
			return
		}
		w.cfg.Logger.Warn().Err(postgres.Clean(err, w.dsn)).
			Msg("PostgreSQL listener lost; job long-polls fail until it reconnects")
		if conn = w.reconnect(ctx); conn == nil {
			return
		}
		w.setUp(conn)
		w.cfg.Logger.Info().Msg("PostgreSQL listener reconnected; waking every held long-poll once")
	}
}

// receive wakes local subscribers for each notification on conn. It
// returns the error that ended the connection, or ctx's.
func (w *Waker) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, w.cfg.Probe)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			w.local.Notify(ctx, n.Payload) //nolint:errcheck // LocalWaker never fails
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return err
		}
		// Quiet for a whole probe interval: make sure the server is still
		// there. pgx keeps the connection usable after a wait times out.
		pctx, cancel := context.WithTimeout(ctx, w.cfg.Probe)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// reconnect retries listen with doubling backoff until it succeeds (the
// connection) or ctx ends (nil).
func (w *Waker) reconnect(ctx context.Context) *pgx.Conn {
	backoff := w.cfg.MinBackoff
	for {
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := w.listen(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		w.cfg.Logger.Warn().Err(postgres.Clean(err, w.dsn)).Dur("retry_in", backoff).
			Msg("PostgreSQL listener cannot reconnect")
		backoff = min(2*backoff, w.cfg.MaxBackoff)
	}
}

// setUp marks the listener live and wakes every subscriber: a notification
// sent while it was down was lost, so each held poll must look again.
// Subscriptions are refused while down, so these are the polls held since
// before the loss; under w.mu, no new one slips in between.
func (w *Waker) setUp(conn *pgx.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.up, w.pid = true, conn.PgConn().PID()
	for id := range w.subs {
		w.local.Notify(context.Background(), id) //nolint:errcheck // never fails
	}
}

func (w *Waker) setDown() {
	w.mu.Lock()
	w.up, w.pid = false, 0
	w.mu.Unlock()
}
