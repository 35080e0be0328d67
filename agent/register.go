package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// Register trades the user's em_live_ token for this agent's own ag_live_
// token and caches it (0600). With replace, an existing registration is
// renewed: the server keeps the agent id (so its runs stay its own) and
// revokes the old token. Without replace, an existing one is an error.
func Register(ctx context.Context, cfg Config, replace bool) (token.Cache, error) {
	cfg = cfg.withDefaults()
	if err := cfg.checkLabel(); err != nil {
		return token.Cache{}, err
	}
	if kind, err := token.Parse(cfg.UserToken); err != nil || kind != token.User {
		return token.Cache{}, errors.New("registering needs a user token: set ARGUS_TOKEN to your em_live_… token")
	}
	// Before the server is asked: a registration that cannot be saved
	// safely must not leave an agent behind on the server.
	if err := token.CheckHome(cfg.Home, os.Geteuid()); err != nil {
		return token.Cache{}, err
	}
	path := cfg.tokenPath()
	old, err := token.LoadCache(path)
	haveOld := err == nil
	switch {
	case err == nil && !replace:
		return old, fmt.Errorf("already registered as agent %s (%s): use --reregister to replace the token", old.AgentID, path)
	case errors.Is(err, token.ErrUnsafe), err != nil && !errors.Is(err, token.ErrCacheMissing) && !replace:
		// --reregister replaces a corrupt token file, not one that
		// others can read or change: that needs its owner's attention.
		return old, err
	}
	c, err := cfg.client(cfg.UserToken, nil, nil)
	if err != nil {
		return token.Cache{}, err
	}
	host, err := os.Hostname()
	if err != nil {
		return token.Cache{}, fmt.Errorf("hostname: %w", err)
	}
	req := api.RegisterRequest{
		Hostname: host, Label: cfg.Label, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Version: cfg.Version, Properties: cfg.Properties,
	}
	if haveOld && old.URL == cfg.URL {
		req.AgentID = old.AgentID
	}
	resp, err := c.Register(ctx, req)
	if errors.Is(err, client.ErrNotFound) && req.AgentID != "" {
		// The old agent belongs to another user or is gone: start afresh.
		req.AgentID = ""
		resp, err = c.Register(ctx, req)
	}
	if errors.Is(err, client.ErrUnauthorized) {
		return token.Cache{}, errors.New("the server rejected ARGUS_TOKEN: check it, or ask for a new one")
	}
	var unknownCA x509.UnknownAuthorityError
	var badCert *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &badCert) {
		return token.Cache{}, fmt.Errorf("%w: if the server uses a private CA, pass its bundle with --ca-cert FILE", err)
	}
	if err != nil {
		return token.Cache{}, err
	}
	cache := token.Cache{
		URL: cfg.URL, AgentID: resp.AgentID, Token: resp.Token, Label: cfg.Label,
		Hostname: host, RegisteredAt: time.Now().UTC(),
	}
	if err := token.SaveCache(path, cache); err != nil {
		return token.Cache{}, err
	}
	return cache, nil
}

func (c Config) withDefaults() Config {
	if c.Home == "" {
		if home, err := os.UserHomeDir(); err == nil {
			c.Home = filepath.Join(home, ".argus-agent")
		}
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.PollWait <= 0 {
		c.PollWait = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

func (c Config) checkLabel() error {
	if c.Label == "" {
		return nil
	}
	return token.ValidLabel(c.Label)
}

func (c Config) tokenPath() string { return token.CachePath(c.Home, c.Label) }

// stateDir holds the journal and run logs of this identity. The default
// identity's name cannot be a label (labels start with a letter or digit).
func (c Config) stateDir() string {
	name := "_default"
	if c.Label != "" {
		name = c.Label
	}
	return filepath.Join(c.Home, "state", name)
}

// client talks to the server with tok. Retries inside the client stay
// short: the daemon's loops do their own, longer backoff. observe, when
// set, is told how each call ended (link.go); resources, when set, gives
// the report its polls and heartbeats carry (resources.go).
func (c Config) client(tok string, observe func(*http.Response), resources func() string) (*client.Client, error) {
	return client.New(c.URL, tok, client.Options{
		Observe: observe, Resources: resources,
		RetryMax: 2, RetryWaitMin: 200 * time.Millisecond, RetryWaitMax: 2 * time.Second,
		CACertFile: c.CACertFile, InsecureSkipVerify: c.InsecureSkipVerify,
		Logger: c.Logger, Version: c.Version,
		// The held poll is the one connection an idle agent keeps; another
		// (acks, exits, output) closes soon after its last request.
		IdleConnTimeout: agentIdleConn,
	})
}

const agentIdleConn = 5 * time.Second
