package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/agent/internal/supervise"
	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// daemon is one running agent identity.
type daemon struct {
	cfg     Config
	log     zerolog.Logger
	cur     atomic.Pointer[client.Client] // with the current token: conn()
	agentID string
	journal *journal
	logDir  string
	kick    chan struct{} // wakes the outbox
	// shipKick wakes the log shipper (ship.go) when it sleeps for want
	// of runs to ship.
	shipKick chan struct{}
	fail     context.CancelCauseFunc

	mu       sync.Mutex
	inflight map[string]bool // command ids being handled
	wg       sync.WaitGroup  // loops, not runs
	cmds     sync.WaitGroup  // command handlers: a start is never cut in half

	ends   map[string]chan struct{} // run id → closed when it ends (timeout.go)
	timers sync.WaitGroup           // runs' timeout watches

	// pollsBeat: the server said it counts held polls as heartbeats;
	// pollFailing: the last poll failed. heartbeatLoop is quiet while the
	// first holds and the second does not.
	pollsBeat, pollFailing atomic.Bool
	// link is what the loops know together of reaching the server:
	// whether it is unreachable, and its return (link.go).
	link *link

	tokMu sync.Mutex // one token renewal at a time (tokenswap.go)
	token string     // the token conn() sends
}

// Run is the daemon in the foreground: it heartbeats, long-polls for
// commands and carries them out until ctx ends. Ending ctx (SIGTERM,
// Ctrl-C) stops the agent only: runs belong to their users and go on; the
// server is told (goodbye). A token the server rejects, with no
// replacement in the token file (tokenswap.go), ends Run with
// ErrTokenRejected.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.checkLabel(); err != nil {
		return err
	}
	cache, err := token.LoadCache(cfg.tokenPath())
	if err != nil {
		return err
	}
	if cfg.URL == "" {
		cfg.URL = cache.URL
	} else if strings.TrimRight(cfg.URL, "/") != strings.TrimRight(cache.URL, "/") {
		return fmt.Errorf("this agent is registered with %s, not %s: run argus-agent --reregister to move it", cache.URL, cfg.URL)
	}
	link := newLink(cfg.Logger)
	var res *sampler
	var report func() string
	if cfg.ReportResources {
		res = newSampler(cfg.Home, cfg.Logger)
		report = res.report
	}
	c, err := cfg.client(cache.Token, link.observe, report)
	if err != nil {
		return err
	}
	// The state directory's parent too: whoever could write it could swap
	// the journal, which decides what runs.
	for _, dir := range []string{filepath.Dir(cfg.stateDir()), cfg.stateDir()} {
		if err := privateDir(dir); err != nil {
			return err
		}
	}
	release, err := lockState(cfg.stateDir())
	if err != nil {
		return err
	}
	defer release()
	j, err := openJournal(filepath.Join(cfg.stateDir(), "journal"))
	if err != nil {
		return err
	}
	logDir := filepath.Join(cfg.stateDir(), "logs")
	if err := privateDir(logDir); err != nil {
		return err
	}
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	d := &daemon{
		cfg: cfg, log: cfg.Logger, agentID: cache.AgentID, journal: j, logDir: logDir,
		kick: make(chan struct{}, 1), shipKick: make(chan struct{}, 1), fail: fail,
		inflight: map[string]bool{}, ends: map[string]chan struct{}{},
		token: cache.Token, link: link,
	}
	d.cur.Store(c)
	if res != nil {
		// Ahead of recovery and the first heartbeat, so that its first
		// sample is likely ready for them.
		d.goLoop(ctx, res.run)
	}
	d.log.Info().Str("agent_id", d.agentID).Str("url", cfg.URL).Str("label", cfg.Label).Msg("argus-agent started")
	j.prune(7 * 24 * time.Hour)
	supervise.Warm() // the first rerun's supervisor, started ahead of it
	defer supervise.Drop()
	d.recover(ctx)
	d.announceRestart(ctx)
	d.goLoop(ctx, d.heartbeatLoop)
	d.goLoop(ctx, d.pollLoop)
	d.goLoop(ctx, d.outboxLoop)
	d.goLoop(ctx, d.shipLoop)
	<-ctx.Done()
	d.wg.Wait()
	d.cmds.Wait() // stops return at once on ctx; a start finishes and journals
	d.timers.Wait()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrTokenRejected):
		d.log.Error().Msg(ErrTokenRejected.Error())
		return ErrTokenRejected
	case errors.Is(cause, token.ErrUnsafe):
		return cause
	}
	d.goodbye()
	d.log.Info().Msg("argus-agent stopped; runs keep running")
	return nil
}

// goodbyeWait bounds the goodbye, retries included: a service manager
// gives a stopping agent some seconds, and the goodbye only saves the
// server from waiting out its online window.
const goodbyeWait = 2 * time.Second

// goodbye tells the server this agent stopped cleanly, so it shows
// offline at once and reruns to it are refused rather than queued for a
// host nobody serves. Only a daemon that ran its loops says it: not a
// rejected token, not --reregister, not a second agent refused by the
// lock (those return before any loop starts).
func (d *daemon) goodbye() {
	ctx, cancel := context.WithTimeout(context.Background(), goodbyeWait)
	defer cancel()
	if err := d.conn().Offline(ctx, d.agentID); err != nil {
		d.log.Warn().Err(err).Msg("could not tell the server this agent is stopping; it shows offline after its online window")
	}
}

func (d *daemon) goLoop(ctx context.Context, loop func(context.Context)) {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); loop(ctx) }()
}

// heartbeatLoop beats at once and then every interval, except while the
// poll loop's polls are the heartbeat: a server that says so (pollsBeat,
// learnt from the first beat's answer) counts a held poll as one, and
// beating besides would only keep a second connection open per agent.
// When a poll fails, the beats resume. While the server is unreachable
// they are its probe: one attempt about every second (link.go), so the
// agent is back online, and every loop resumes, right after the server.
func (d *daemon) heartbeatLoop(ctx context.Context) {
	failing := false
	for {
		down := d.link.isDown()
		if (!d.pollsBeat.Load() || d.pollFailing.Load() || down) && !d.beat(ctx, &failing, down) {
			return
		}
		wait := d.cfg.HeartbeatInterval
		if d.link.isDown() {
			wait = probeEvery()
		}
		if !ctxsleep.SleepOr(ctx, wait, d.link.wentDown) {
			return
		}
	}
}

// beat sends one heartbeat (again at once with a renewed token), logging
// only changes between failing and not; a probe (the server unreachable)
// makes one attempt, its retries being the loop's next probes. False: the
// loop must end.
func (d *daemon) beat(ctx context.Context, failing *bool, probe bool) bool {
	for {
		c := d.conn()
		if probe {
			c = c.SingleAttempt()
		}
		pollsBeat, err := c.HeartbeatPolls(ctx, d.agentID)
		if err == nil {
			d.pollsBeat.Store(pollsBeat)
		}
		switch {
		case ctx.Err() != nil || d.rejected(ctx, c, err):
			return false
		case errors.Is(err, client.ErrUnauthorized):
			continue // renewed: beat again at once with the new token
		case err != nil && !*failing:
			d.log.Warn().Err(err).Msg("heartbeat failed; retrying")
		case err == nil && *failing:
			d.log.Info().Msg("heartbeat recovered")
		}
		*failing = err != nil
		return true
	}
}

// pollLoop long-polls for commands. An empty answer is the normal end of
// a hold; errors back off with jitter, capped, and reset on success.
func (d *daemon) pollLoop(ctx context.Context) {
	var wait time.Duration
	for ctx.Err() == nil {
		c, back := d.conn(), d.link.serverBack()
		jobs, err := c.JobsUpTo(ctx, d.agentID, d.cfg.PollWait, d.cfg.MaxRuns)
		received := time.Now() // with its monotonic reading: see lateBy
		if ctx.Err() != nil || d.rejected(ctx, c, err) {
			return
		}
		if errors.Is(err, client.ErrUnauthorized) {
			continue // renewed: poll again at once with the new token
		}
		d.pollFailing.Store(err != nil)
		if err == nil {
			d.pollsBeat.Store(jobs.HeldPollHeartbeat)
		}
		if err != nil {
			wait = nextBackoff(wait, d.cfg.MaxBackoff)
			delay := wait
			// An overloaded server says when to come back (5 to 15 s for a
			// poll past its --max-held-polls); heartbeats go on meanwhile.
			var apiErr *client.APIError
			if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
				delay = min(apiErr.RetryAfter, d.cfg.MaxBackoff)
			}
			d.log.Warn().Err(err).Dur("retry_in", delay).Msg("polling for commands failed")
			if !ctxsleep.SleepOr(ctx, delay, back) {
				return
			}
			continue
		}
		if wait > 0 {
			d.log.Info().Msg("polling recovered")
			wait = 0
		}
		for _, c := range jobs.Commands {
			d.dispatch(ctx, c, received)
		}
	}
}

// dispatch handles each command in its own goroutine, so a stop waiting
// out its grace period holds up nothing else; a command already being
// handled (a redelivery racing its first delivery) is skipped.
func (d *daemon) dispatch(ctx context.Context, c api.Command, received time.Time) {
	if !d.claimInflight(c.ID) {
		return
	}
	d.cmds.Add(1)
	go func() {
		defer d.cmds.Done()
		defer d.releaseInflight(c.ID)
		switch c.Kind {
		case api.KindRerun:
			d.rerun(ctx, c, received)
		case api.KindStop:
			d.stop(ctx, c)
		default:
			d.unknownKind(c)
		}
	}()
}

// claimInflight marks the command as being handled; false when it
// already is.
func (d *daemon) claimInflight(cmdID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[cmdID] {
		return false
	}
	d.inflight[cmdID] = true
	return true
}

func (d *daemon) releaseInflight(cmdID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, cmdID)
}

// nextBackoff doubles from 1s (or the cap, when lower) to the cap, with
// the top half jittered so a fleet that lost its server does not return in
// lockstep.
func nextBackoff(prev, ceiling time.Duration) time.Duration {
	d := min(max(2*prev, time.Second), ceiling)
	return d/2 + rand.N(d/2+1)
}

func (d *daemon) kickOutbox() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
	// A change of a record may be a run starting: its log is to ship.
	select {
	case d.shipKick <- struct{}{}:
	default:
	}
}

// unknownKind answers a command this agent does not understand (a newer
// server): journaled and acked with an error, so it is not redelivered
// for ever.
func (d *daemon) unknownKind(c api.Command) {
	if _, ok := d.journal.get(c.ID); ok {
		d.resendAck(c.ID)
		return
	}
	d.log.Warn().Str("cmd_id", c.ID).Str("kind", c.Kind).Msg("unknown command kind; refusing it")
	err := d.journal.create(Record{CmdID: c.ID, Kind: c.Kind, RunID: c.RunID, State: stateDone,
		Ack: &api.AckRequest{Error: "argus-agent " + d.cfg.Version + " does not know command kind " + c.Kind + ": upgrade the agent"}})
	if err != nil {
		d.log.Error().Err(err).Msg("cannot journal the refusal")
	}
	d.kickOutbox()
}
