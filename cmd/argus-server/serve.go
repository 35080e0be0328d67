package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store/postgres"
)

func serveCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the API until SIGINT or SIGTERM",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"ARGUS_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"ARGUS_LOG_FORMAT"}, Usage: "console, json, or auto (console on a terminal)"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8420", EnvVars: []string{"ARGUS_ADDR"}, Usage: "host:port to listen on"},
			dbFlag,
			&cli.DurationFlag{Name: "lease", Value: 30 * time.Second, EnvVars: []string{"ARGUS_LEASE"}, Usage: "how long a delivered command waits for its ack before redelivery"},
			&cli.DurationFlag{Name: "queue-ttl", Value: 10 * time.Minute, EnvVars: []string{"ARGUS_QUEUE_TTL"}, Usage: "a rerun its agent has not started within this time expires (0: never)"},
			&cli.DurationFlag{Name: "online-window", Value: 30 * time.Second, EnvVars: []string{"ARGUS_ONLINE_WINDOW"}, Usage: "an agent is online if it heartbeated within this window"},
			&cli.DurationFlag{Name: "max-wait", Value: 60 * time.Second, EnvVars: []string{"ARGUS_MAX_WAIT"}, Usage: "longest hold of a jobs long-poll"},
			&cli.DurationFlag{Name: "heartbeat-flush", Value: time.Second, EnvVars: []string{"ARGUS_HEARTBEAT_FLUSH"}, Usage: "write buffered heartbeats in one transaction this often (0 writes each heartbeat at once)"},
			&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"ARGUS_TLS_CERT"}, Usage: "PEM certificate (chain) to serve HTTPS with; needs --tls-key"},
			&cli.StringFlag{Name: "tls-key", EnvVars: []string{"ARGUS_TLS_KEY"}, Usage: "PEM private key of --tls-cert"},
			&cli.StringFlag{Name: "session-key", EnvVars: []string{"ARGUS_SESSION_KEY"}, Usage: "secret (32+ characters) signing web UI sessions; replicas must share it (default: random, sessions end on restart)"},
			&cli.StringFlag{Name: "retention", Value: "0", EnvVars: []string{"ARGUS_RETENTION"}, Usage: "delete runs that ended longer ago than this (such as 90d or 720h), with their output, then empty old batches (0: keep everything)"},
			&cli.DurationFlag{Name: "retention-sweep", Value: time.Minute, EnvVars: []string{"ARGUS_RETENTION_SWEEP"}, Usage: "how often --retention looks for what to delete"},
			&cli.BoolFlag{Name: "webhook-allow-private", EnvVars: []string{"ARGUS_WEBHOOK_ALLOW_PRIVATE"}, Usage: "let webhooks reach loopback, private and other internal addresses (refused by default)"},
			&cli.StringFlag{Name: "base-path", EnvVars: []string{"ARGUS_BASE_PATH"}, Usage: "serve every route under this path (such as /argus), for a reverse proxy that keeps it; agents and the CLI then use the URL with it"},
			&cli.BoolFlag{Name: "secure-cookies", EnvVars: []string{"ARGUS_SECURE_COOKIES"}, Usage: "mark web session cookies Secure even over plain HTTP (TLS ends at a proxy in front)"},
			&cli.DurationFlag{Name: "session-ttl", Value: 12 * time.Hour, EnvVars: []string{"ARGUS_SESSION_TTL"}, Usage: "how long a web UI sign-in lasts"},
			&cli.IntFlag{Name: "auth-fail-burst", Value: 20, EnvVars: []string{"ARGUS_AUTH_FAIL_BURST"}, Usage: "failed authentications a client address may make at once before it gets 429 (0: no limit)"},
			&cli.Float64Flag{Name: "auth-fail-rate", Value: 1, EnvVars: []string{"ARGUS_AUTH_FAIL_RATE"}, Usage: "failed authentications per second an address regains once over --auth-fail-burst"},
			&cli.StringSliceFlag{Name: "trusted-proxy", EnvVars: []string{"ARGUS_TRUSTED_PROXIES"}, Usage: "CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable; default none: the peer address counts)"},
			&cli.StringFlag{Name: "log-max", Value: "16MiB", EnvVars: []string{"ARGUS_LOG_MAX"}, Usage: "output kept per run (such as 16MiB or 1GB; 0: all); past it the first MiB and the newest are kept"},
			&cli.IntFlag{Name: "max-held-polls", Value: 15000, EnvVars: []string{"ARGUS_MAX_HELD_POLLS"}, Usage: "long-polls held at once; past it new ones get 503 with Retry-After (0: no limit)"},
			&cli.IntFlag{Name: "max-in-flight", Value: 1000, EnvVars: []string{"ARGUS_MAX_IN_FLIGHT"}, Usage: "requests served at once besides held polls; past it 503 with Retry-After, agents' heartbeats and reports last (0: no limit)"},
			&cli.Int64Flag{Name: "max-body", Value: 1 << 20, EnvVars: []string{"ARGUS_MAX_BODY"}, Usage: "largest request body in bytes (larger gets 413)"},
		},
		Action: serve,
	}
}

func serve(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	sessionKey := c.String("session-key")
	if sessionKey != "" && len(sessionKey) < 32 {
		return fmt.Errorf("--session-key is %d characters: use at least 32 random ones (e.g. openssl rand -hex 32)", len(sessionKey))
	}
	if sessionKey == "" && postgres.IsDSN(c.String("db")) {
		return errors.New("--session-key (or ARGUS_SESSION_KEY) is required with PostgreSQL: every replica must sign web sessions with the same key")
	}
	if c.Duration("session-ttl") <= 0 {
		return errors.New("--session-ttl must be positive, such as 12h")
	}
	limits, err := authLimits(c)
	if err != nil {
		return err
	}
	logMax, err := parseLogMax(c.String("log-max"))
	if err != nil {
		return err
	}
	basePath, err := server.CleanBasePath(c.String("base-path"))
	if err != nil {
		return err
	}
	retention, err := parseRetention(c.String("retention"))
	if err != nil {
		return err
	}
	if c.Duration("retention-sweep") <= 0 {
		return errors.New("--retention-sweep must be positive, such as 1m")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	tlsConfig, err := loadTLS(c.String("tls-cert"), c.String("tls-key"))
	if err != nil {
		return err
	}
	addr := c.String("addr")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenError(addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	st, err := openStore(ctx, c.String("db"))
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()
	waker, closeWaker, err := openWaker(ctx, c.String("db"), &log)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeWaker()

	srv := server.New(server.Config{
		Lease:               c.Duration("lease"),
		OnlineWindow:        c.Duration("online-window"),
		MaxWait:             c.Duration("max-wait"),
		MaxBodyBytes:        c.Int64("max-body"),
		HeartbeatFlush:      flushEvery(c.Duration("heartbeat-flush")),
		QueueTTL:            flushEvery(c.Duration("queue-ttl")), // 0: never expire
		LogMax:              logMax,
		MaxHeldPolls:        noLimit(c.Int("max-held-polls")),
		MaxInFlight:         noLimit(c.Int("max-in-flight")),
		RevocationMarker:    revocationMarker(c.String("db")),
		SessionKey:          []byte(sessionKey),
		SessionTTL:          c.Duration("session-ttl"),
		SecureCookies:       c.Bool("secure-cookies"),
		BasePath:            basePath,
		Retention:           retention,
		WebhookAllowPrivate: c.Bool("webhook-allow-private"),
		RetentionSweep:      c.Duration("retention-sweep"),
		AuthFailBurst:       limits.AuthFailBurst,
		AuthFailRate:        limits.AuthFailRate,
		TrustedProxies:      limits.TrustedProxies,
		Logger:              &log,
	}, st, waker)
	startLog := log
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		// The kernel picked the port: this line is the only place that
		// says which, so it is written whatever --log-level says.
		startLog = log.Level(min(log.GetLevel(), zerolog.InfoLevel))
	}
	startLog.Info().Str("addr", ln.Addr().String()).Bool("tls", tlsConfig != nil).Str("db", redactDSN(c.String("db"))).Str("base_path", basePath).Str("version", version).Msg("argus-server listening")
	err = srv.Serve(ctx, ln)
	log.Info().Msg("argus-server stopped")
	return err
}

func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("cannot listen on %s: the port is already in use (another argus-server?); pick another --addr", addr)
	}
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("cannot listen on %s: permission denied; use a port above 1024", addr)
	}
	return fmt.Errorf("cannot listen on %s: %v", addr, unwrapOp(err))
}

// unwrapOp drops net.OpError's "listen tcp …:" preamble, which repeats the
// address already in the message.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// flushEvery maps a flag where 0 means "always" or "never" (write every
// heartbeat; never expire) onto server.Config, where 0 means "default".
func flushEvery(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// noLimit maps a flag's 0 ("no limit") onto server.Config's negative.
func noLimit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// revocationMarker is the file `argus-server token revoke` replaces on a
// SQLite database; PostgreSQL announces revocations through the Waker.
func revocationMarker(db string) string {
	if postgres.IsDSN(db) {
		return ""
	}
	return server.RevocationMarker(db)
}

// parseLogMax reads --log-max as the server.Config wants it: "0" (keep
// everything) becomes negative, and a cap too small to hold the kept head
// and some newest output is refused rather than silently raised.
func parseLogMax(v string) (int64, error) {
	n, err := humanize.ParseBytes(v)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("--log-max %q is not a size: give bytes such as 16MiB, 512MB or 0 (keep everything)", v)
	}
	switch {
	case n == 0:
		return -1, nil
	case n < api.MinLogMax:
		return 0, fmt.Errorf("--log-max %s is too small: at least %s (the first MiB of a run's output is always kept), or 0 to keep everything",
			v, humanize.IBytes(api.MinLogMax))
	}
	return int64(n), nil
}

// loadTLS reads the certificate and key for HTTPS, or returns nil for
// plain HTTP (behind a TLS proxy, or on loopback).
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %v", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// authLimits reads the failed-authentication budget flags into the
// server.Config fields they set. --auth-fail-burst 0 turns the limit off
// (negative in server.Config, where 0 means the default).
func authLimits(c *cli.Context) (server.Config, error) {
	var cfg server.Config
	cfg.AuthFailBurst = c.Int("auth-fail-burst")
	switch {
	case cfg.AuthFailBurst < 0:
		return cfg, errors.New("--auth-fail-burst must be 0 (no limit) or more")
	case cfg.AuthFailBurst == 0:
		cfg.AuthFailBurst = -1
	}
	if cfg.AuthFailRate = c.Float64("auth-fail-rate"); cfg.AuthFailRate <= 0 {
		return cfg, errors.New("--auth-fail-rate must be positive, such as 1 (per second)")
	}
	for _, v := range c.StringSlice("trusted-proxy") {
		p, err := netip.ParsePrefix(strings.TrimSpace(v))
		if err != nil {
			ip, ierr := netip.ParseAddr(strings.TrimSpace(v))
			if ierr != nil {
				return cfg, fmt.Errorf("--trusted-proxy %q: give a CIDR such as 10.0.0.0/8 or an address", v)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
	}
	return cfg, nil
}

// parseRetention reads --retention: a Go duration (720h, 90m), or whole
// days (90d), which is how retention is usually said; 0 keeps everything.
func parseRetention(v string) (time.Duration, error) {
	bad := fmt.Errorf("--retention %q is not a duration: use whole days (90d), a Go duration (720h) or 0 to keep everything", v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v) // "0" is 0
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}
