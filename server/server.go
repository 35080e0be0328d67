// Package server is argus-server's HTTP side: the agent API (register,
// long-polled jobs, the start step before a rerun, ack, heartbeat, exit
// reports), the user API (batches, rerun, runs, stop or cancel, agents,
// project recipients), the expiry of queued reruns (queue.go), authentication (with a
// budget of failed attempts per client address, authlimit.go, and tokens'
// last use written behind, lastused.go) and authorisation, refusal of
// ambiguously framed requests (smuggling.go), /healthz and /metrics, access
// logs and graceful shutdown. Request bodies are decoded strictly
// (respond.go, strictjson.go: JSON only, no ambiguous keys) and held to the
// field limits (limits.go).
//
// What is stored, and the atomic state transitions, live behind
// store.Store (server/store); the wake-up of held long-polls lives behind
// Waker (wake.go) so a database-backed notifier can replace the in-process
// one without touching handlers. The wire shapes are in server/api. The web
// UI is package server/ui, mounted by routes.go over uiCore (uicore.go):
// the server's own authentication, visibility, queueing and agent choice,
// so the UI and the API share one authorisation path. Agents' resource
// reports are kept in resources.go.
package server

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/argus-exec/argus/server/ui"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Config tunes a Server. The zero value of each field picks the default.
type Config struct {
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxWait caps how long a jobs long-poll is held. Default 60s.
	MaxWait time.Duration
	// Lease is how long a delivered command waits for its ack before it is
	// handed out again. Default 30s.
	Lease time.Duration
	// OnlineWindow is how recent an agent's last heartbeat must be for it
	// to count as online. Default 30s (three 10s heartbeats).
	OnlineWindow time.Duration
	// HeartbeatFlush is how often buffered heartbeats are written, in one
	// transaction (see heartbeats). Default 1s, at most OnlineWindow/10;
	// negative writes every heartbeat through.
	HeartbeatFlush time.Duration
	// ShutdownTimeout bounds graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// Logger receives access logs and errors. Default: disabled.
	Logger *zerolog.Logger
	// Now is the clock; tests may replace it. Default time.Now.
	Now func() time.Time
	// SessionKey signs web UI session cookies and CSRF tokens (32 random
	// bytes or more). Empty means a random key per process: browser
	// sessions then end when the server restarts, and replicas behind a
	// load balancer must all be given the same key.
	SessionKey []byte
	// SessionTTL is how long a web UI login lasts. Default 12h.
	SessionTTL time.Duration
	// SecureCookies marks session cookies Secure even when requests reach
	// the server over plain HTTP: for TLS that ends at a proxy in front.
	SecureCookies bool
	// BasePath serves every route under a path ("/argus"), for a reverse
	// proxy that keeps it (basepath.go); "" is the root. CleanBasePath
	// checks one.
	BasePath string
	// AuthFailBurst and AuthFailRate budget failed authentications (bad
	// bearer tokens, refused web sign-ins) per client address: a bucket of
	// AuthFailBurst attempts refilled at AuthFailRate per second; past it,
	// attempts get 429 with Retry-After and no token lookup (authlimit.go).
	// Defaults 20 and 1; a negative AuthFailBurst turns the limit off.
	AuthFailBurst int
	AuthFailRate  float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; without them every request counts against its peer
	// address (behind a proxy, all clients share the proxy's budget).
	TrustedProxies []netip.Prefix
	// QueueTTL is how long a rerun may wait to be started by its agent
	// before it expires (queue.go). Default 10m; negative: never.
	QueueTTL time.Duration
	// Retention deletes runs that ended longer ago than this, with their
	// output and commands, then batches recorded longer ago with no run
	// left (retention.go); 0 keeps everything. RetentionSweep is how often
	// it looks: default a minute.
	Retention      time.Duration
	RetentionSweep time.Duration
	// WebhookAllowPrivate lets hooks reach loopback, private and other
	// internal addresses (webhooks.go); off, they are refused.
	WebhookAllowPrivate bool
	// MaxHeldPolls and MaxInFlight are the overload limits (shed.go): held
	// long-polls, and requests being served besides them (agents'
	// heartbeats, acks and reports may use twice as many). Past them, 503
	// with Retry-After. Defaults 15000 (a process here may not open more
	// than 20000 files) and 1000; negative: no limit.
	MaxHeldPolls int
	MaxInFlight  int
	// TokenCacheTTL bounds how long a verified token is trusted without
	// the store while revocations may go unheard (tokencache.go). Default
	// 10s; negative: no cache, every request's token is looked up.
	TokenCacheTTL time.Duration
	// RevocationMarker is the file `argus-server token revoke` replaces
	// on the SQLite database (RevocationMarker(db)); empty on PostgreSQL,
	// where revocations are announced through the Waker.
	RevocationMarker string
	// LogMax caps the output kept per run (runlog.go): past it, the first
	// api.LogHead bytes and the newest are kept. Default
	// api.DefaultLogMax; negative: no cap. A positive value below
	// api.MinLogMax is raised to it.
	LogMax int64
}

func (c Config) withDefaults() Config {
	if c.RetentionSweep <= 0 {
		c.RetentionSweep = time.Minute
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxHeldPolls == 0 {
		c.MaxHeldPolls = 15000
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1000
	}
	if c.TokenCacheTTL == 0 {
		c.TokenCacheTTL = 10 * time.Second
	}
	switch {
	case c.LogMax == 0:
		c.LogMax = api.DefaultLogMax
	case c.LogMax > 0 && c.LogMax < api.MinLogMax:
		c.LogMax = api.MinLogMax
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 60 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.OnlineWindow <= 0 {
		c.OnlineWindow = 30 * time.Second
	}
	if c.HeartbeatFlush == 0 {
		c.HeartbeatFlush = min(time.Second, c.OnlineWindow/10)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.AuthFailBurst == 0 {
		c.AuthFailBurst = 20
	}
	if c.AuthFailRate <= 0 {
		c.AuthFailRate = 1
	}
	if c.QueueTTL == 0 {
		c.QueueTTL = 10 * time.Minute
	}
	return c
}

// Server serves the Argus API over one Store.
type Server struct {
	cfg     Config
	store   store.Store
	waker   Waker
	log     zerolog.Logger
	metrics *metrics
	health  *storeHealth // can the database be written (storehealth.go)
	handler http.Handler
	beats   *heartbeats
	ui      *ui.UI // the web UI (package ui), over uiCore

	authLimit *authLimiter     // failed-authentication budgets (authlimit.go)
	lastUsed  *lastUsed        // tokens' last-used times, written behind (lastused.go)
	resources *resourceReports // agents' resource reports, written behind (resources.go)
	webhooks  *webhooks        // sending run ends to projects' hooks (webhook_send.go)
	tokens    *tokenCache      // verified tokens (tokencache.go)
	shed      *shedder         // overload limits (shed.go)
	names     sync.Map         // user id → name (actor.go)
	lastPolls sync.Map         // agent id → when this replica last took a poll of it (diagnostics.go)

	closing   chan struct{} // closed when shutdown begins: held polls answer
	closeOnce sync.Once

	relisten *relistener // Serve's listener, which parked polls hand back to (park.go)
	parked   parkedPolls
}

// New builds a Server. A nil waker means the in-process LocalWaker, which
// is right for a single replica.
func New(cfg Config, st store.Store, w Waker) *Server {
	cfg = cfg.withDefaults()
	if w == nil {
		w = NewLocalWaker()
	}
	s := &Server{
		cfg:     cfg,
		store:   st,
		waker:   w,
		log:     *cfg.Logger,
		closing: make(chan struct{}),
	}
	s.beats = newHeartbeats(st, s.log, cfg.Now, cfg.OnlineWindow/2, cfg.HeartbeatFlush)
	s.metrics = newMetrics(st, cfg)
	s.ui = s.newUI()
	s.authLimit = newAuthLimiter(cfg.AuthFailRate, cfg.AuthFailBurst)
	s.lastUsed = newLastUsed(st, s.log)
	s.resources = newResourceReports(st, s.log)
	s.webhooks = newWebhooks(cfg.WebhookAllowPrivate, s.metrics.registry)
	s.health = newStoreHealth(st, s.log, s.metrics.registry)
	s.beats.quiet, s.lastUsed.quiet, s.resources.quiet = s.health.failed, s.health.failed, s.health.failed
	s.shed = &shedder{maxHeld: int64(max(cfg.MaxHeldPolls, 0)), maxInFlight: int64(max(cfg.MaxInFlight, 0))}
	s.tokens = newTokenCache(cfg.TokenCacheTTL, tokenCacheMax, cfg.RevocationMarker)
	s.handler = s.routes()
	return s
}

// Handler is the whole API as one http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// BeginShutdown answers every held long-poll with an empty list and makes
// new ones return at once. Serve calls it; tests may too.
func (s *Server) BeginShutdown() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.parked.wakeAll()
}

// FlushHeartbeats writes buffered heartbeats now. Serve flushes on its own;
// this is for callers that use Handler without Serve, and for tests.
func (s *Server) FlushHeartbeats(ctx context.Context) error { return s.beats.flush(ctx) }

// FlushTokenUse writes buffered token last-used times now (lastused.go),
// like FlushHeartbeats.
func (s *Server) FlushTokenUse(ctx context.Context) error { return s.lastUsed.flush(ctx) }

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: held long-polls are answered, in-flight requests finish
// within ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler: s.handler,
		// Both count from the accept for a connection's first request.
		// An agent's HTTP transport may open a connection before it needs
		// it and send its first request a heartbeat interval (10s) later:
		// closed at 10s, as it was, that request met a reset (measured by
		// argus-bench fleet). Bodies are small (MaxBodyBytes), so a slow
		// sender is still cut off; writes must outlast the longest
		// long-poll hold.
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      s.cfg.MaxWait + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.RegisterOnShutdown(s.BeginShutdown)
	beatsCtx, stopBeats := context.WithCancel(context.WithoutCancel(ctx))
	beatsDone := make(chan struct{})
	go func() { s.beats.run(beatsCtx); close(beatsDone) }()
	usedDone := make(chan struct{})
	go func() { s.lastUsed.run(beatsCtx, lastUsedFlush); close(usedDone) }()
	resourcesDone := make(chan struct{})
	go func() {
		s.resources.run(beatsCtx, cmp.Or(max(s.cfg.HeartbeatFlush, 0), lastUsedFlush))
		close(resourcesDone)
	}()
	go s.sweepExpired(beatsCtx)
	go s.pruneIdempotency(beatsCtx)
	go s.retain(beatsCtx)
	webhooksDone := make(chan struct{})
	go func() { s.sendWebhooks(beatsCtx); close(webhooksDone) }()
	go s.watchRevocations(beatsCtx)
	// Requests finish first, then the last buffered heartbeats and token
	// uses are flushed.
	// The webhook loop records the attempt it has in flight (cut short)
	// before the process ends: a delivery left leased would wait out its
	// lease after a restart.
	defer func() { stopBeats(); <-beatsDone; <-usedDone; <-resourcesDone; <-webhooksDone }()

	s.relisten = newRelistener(ln)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.relisten) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.parked.wait(sctx) // net/http does not see parked polls' connections
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
