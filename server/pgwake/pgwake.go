// Package pgwake is the server.Waker for several argus-server replicas on
// one PostgreSQL database. A command queued on replica B must wake the
// long-poll that replica A holds for that agent; B's Notify runs
// pg_notify on a channel every replica LISTENs on, and each replica's
// listener wakes its own held polls through a server.LocalWaker.
//
// One dedicated connection per replica listens (LISTEN is a property of a
// session, so it cannot come from a pool that hands connections around).
// When that connection is lost the Waker says so: Subscribe fails until it
// is back, so new polls fail fast rather than hang deaf, and on reconnect
// every subscriber is woken once, because a notification sent while the
// listener was away is gone for good.
package pgwake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/store/postgres"
)

// DefaultChannel is the NOTIFY channel replicas share.
const DefaultChannel = "argus_jobs"

// ErrListenerDown is what Subscribe answers while the listener reconnects.
var ErrListenerDown = errors.New("job wake-ups unavailable: the PostgreSQL listener is reconnecting")

// Config tunes a Waker; the zero value of each field picks the default.
type Config struct {
	// Channel is the LISTEN/NOTIFY channel. Default DefaultChannel.
	Channel string
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles from one to the other. Default 100ms, 5s.
	MinBackoff, MaxBackoff time.Duration
	// Probe is how long the listener waits for a notification before it
	// pings its connection: a peer that vanished without closing the TCP
	// connection would otherwise leave it waiting forever. Default 15s.
	Probe time.Duration
	// Logger receives connection losses and recoveries. Default: none.
	Logger *zerolog.Logger
}

// Waker implements server.Waker on LISTEN/NOTIFY.
type Waker struct {
	cfg     Config
	connCfg *pgx.ConnConfig
	dsn     string
	pool    *pgxpool.Pool // Notify's connections
	local   *server.LocalWaker

	mu   sync.Mutex
	up   bool
	pid  uint32         // listener's backend pid, for tests and logs
	subs map[string]int // agent id -> live subscriptions, for waking all

	cancel context.CancelFunc
	done   chan struct{}
}

var _ server.Waker = (*Waker)(nil)

// Open connects the listener and the notify pool to the database dsn
// names and starts listening. It fails, in one line without the password,
// when the database cannot be reached; later losses are retried.
func Open(ctx context.Context, dsn string, cfg Config) (*Waker, error) {
	w, err := open(ctx, dsn, cfg)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", postgres.Redact(dsn), postgres.Clean(err, dsn))
	}
	return w, nil
}

func open(ctx context.Context, dsn string, cfg Config) (*Waker, error) {
	cfg = withDefaults(cfg)
	connCfg, err := postgres.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	poolCfg.MaxConns = 4 // a NOTIFY is one short statement
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, err
	}
	w := &Waker{cfg: cfg, connCfg: connCfg, dsn: dsn, pool: pool,
		local: server.NewLocalWaker(), subs: map[string]int{}, done: make(chan struct{})}
	conn, err := w.listen(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	w.setUp(conn)
	// The listener outlives Open's ctx: it stops at Close.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	go w.run(lctx, conn)
	return w, nil
}

func withDefaults(c Config) Config {
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
	if c.Probe <= 0 {
		c.Probe = 15 * time.Second
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	return c
}

// Subscribe implements server.Waker. It fails with ErrListenerDown while
// the listener is reconnecting.
func (w *Waker) Subscribe(ctx context.Context, agentID string) (<-chan struct{}, func(), error) {
	// Under w.mu, so that a subscription is either refused or counted
	// before the reconnect's wake-all looks at subs.
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.up {
		return nil, nil, ErrListenerDown
	}
	ch, cancel, err := w.local.Subscribe(ctx, agentID)
	if err != nil {
		return nil, nil, err
	}
	return ch, w.counted(agentID, cancel), nil
}

// SubscribeFunc implements server.FuncWaker, like Subscribe.
func (w *Waker) SubscribeFunc(ctx context.Context, agentID string, wake func()) (func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.up {
		return nil, ErrListenerDown
	}
	cancel, err := w.local.SubscribeFunc(ctx, agentID, wake)
	if err != nil {
		return nil, err
	}
	return w.counted(agentID, cancel), nil
}

// counted counts a subscription of agentID for the reconnect's wake-all;
// the func returned ends it, once. Under w.mu.
func (w *Waker) counted(agentID string, cancel func()) func() {
	w.subs[agentID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			w.mu.Lock()
			if w.subs[agentID]--; w.subs[agentID] <= 0 {
				delete(w.subs, agentID)
			}
			w.mu.Unlock()
		})
	}
}

// Listening reports whether the listener is connected, so that Notify
// calls of other replicas reach this one's subscribers now. (A listener
// that died without a word is found by the next probe.)
func (w *Waker) Listening() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.up
}

// Notify implements server.Waker: every replica's subscribers of the agent
// are woken. This one's are woken at once, without waiting for the
// notification to come back through its own listener (which wakes them
// again: a wake-up only makes a poll look once more).
func (w *Waker) Notify(ctx context.Context, agentID string) error {
	w.local.Notify(ctx, agentID) //nolint:errcheck // LocalWaker never fails
	if _, err := w.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, w.cfg.Channel, agentID); err != nil {
		return fmt.Errorf("notify agent %s: %w", agentID, postgres.Clean(err, w.dsn))
	}
	return nil
}

// Close stops the listener and closes its connections. It returns when
// they are closed or ctx is done, whichever comes first.
func (w *Waker) Close(ctx context.Context) error {
	w.cancel()
	defer w.pool.Close()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close PostgreSQL listener: %w", ctx.Err())
	}
}

// ListenerPID is the backend pid of the listening connection, 0 while it
// is down: what pg_terminate_backend takes, and what an operator greps
// pg_stat_activity for.
func (w *Waker) ListenerPID() uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}
