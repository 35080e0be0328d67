package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// principal is who a request's bearer token says the caller is.
type principal struct {
	TokenID string
	Kind    token.Kind
	UserID  string // the user, or the user an agent token is bound to
	AgentID string // set for agent tokens only
}

type principalKey struct{}

func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// authenticate resolves the bearer token. Shape and checksum are checked
// before any lookup, so garbage never reaches the store; unknown and
// revoked tokens get the same answer so neither can be probed. Every
// failure counts against the client's address, and an address over its
// budget is answered 429 before the lookup (authlimit.go says why a token
// that worked recently is still let through).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, error) {
	raw, kind, perr := bearerToken(r)
	t, wait, err := s.attempt(r, raw, kind, perr, perr)
	switch {
	case wait > 0:
		return principal{}, s.throttled(w, "api", wait)
	case errors.Is(err, errRejected):
		return principal{}, errorf(http.StatusUnauthorized, "token is unknown or revoked")
	case err != nil:
		return principal{}, err
	}
	p := principal{TokenID: t.ID, Kind: t.Kind, UserID: t.UserID, AgentID: t.AgentID}
	noteActor(r.Context(), p) // for the access log, even if a later check refuses
	return p, nil
}

// errRejected is a token that is unknown, revoked or not of the kind it
// says: one answer for all, so none can be probed.
var errRejected = errors.New("token rejected")

// attempt is one authentication, by the API or the web sign-in, under the
// failed-attempt budget of the client's address. perr is token.Parse's
// error for raw (the budget knows a well-formed token by its hash), and
// refused the caller's verdict before any lookup (shape, checksum, kind);
// nil lets it go on to the store, where it must be known, unrevoked and of
// kind.
// Every failure counts; wait > 0 says the address is over its budget and
// nothing was looked up. A good token's use is recorded (lastused.go).
func (s *Server) attempt(r *http.Request, raw string, kind token.Kind, perr, refused error) (store.Token, time.Duration, error) {
	now := s.cfg.Now()
	hash := ""
	if perr == nil {
		hash = token.Hash(raw)
	}
	settle, wait, admitted := s.authLimit.admit(s.clientAddr(r), hash, now)
	if !admitted {
		return store.Token{}, wait, nil
	}
	if refused != nil {
		settle(authFailed, s.cfg.Now())
		return store.Token{}, 0, refused
	}
	t, err := s.matchToken(r.Context(), hash, kind)
	switch {
	case errors.Is(err, errRejected):
		settle(authFailed, s.cfg.Now())
	case err != nil:
		settle(lookupFailed(r.Context()), s.cfg.Now())
	default:
		settle(authGood, s.cfg.Now())
		s.touchToken(t.ID, now)
	}
	return t, 0, err
}

// matchToken loads the unrevoked token of kind with this hash: errRejected
// for an unknown or revoked one, or one of another kind.
// A token verified lately comes from the cache (tokencache.go), which is
// used only while every revocation reaches it.
func (s *Server) matchToken(ctx context.Context, hash string, kind token.Kind) (store.Token, error) {
	now := s.cfg.Now()
	t, cached := s.tokens.get(hash, now, s.revocationsHeard())
	if cached {
		s.metrics.tokenLookups.WithLabelValues("cache").Inc()
	} else {
		s.metrics.tokenLookups.WithLabelValues("store").Inc()
		gen := s.tokens.generation()
		var err error
		t, err = s.store.TokenByHash(ctx, hash)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return t, errRejected
		case err != nil:
			return t, err
		}
		s.tokens.put(hash, t, gen, now)
	}
	if t.RevokedAt != nil || !token.Equal(t.Hash, hash) || t.Kind != kind {
		return t, errRejected
	}
	return t, nil
}

// bearerToken reads the Authorization header and checks the token's shape
// and checksum (no lookup).
func bearerToken(r *http.Request) (string, token.Kind, error) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return "", "", errorf(http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
	}
	raw = strings.TrimSpace(raw)
	kind, err := token.Parse(raw)
	if errors.Is(err, token.ErrChecksum) {
		return "", "", errorf(http.StatusUnauthorized, "token checksum does not match: check for a typo or a truncated paste")
	}
	if err != nil {
		return "", "", errorf(http.StatusUnauthorized, "malformed token: expected em_live_… or ag_live_…")
	}
	return raw, kind, nil
}

// throttled answers an address over its failed-authentication budget:
// 429 with Retry-After in whole seconds, counted by where it was refused.
func (s *Server) throttled(w http.ResponseWriter, via string, wait time.Duration) error {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.metrics.authRefused.WithLabelValues(via).Inc()
	return errorf(http.StatusTooManyRequests, "too many failed authentications from your address: retry in %d s", secs)
}

// requireUser admits em_live_ tokens only.
func (s *Server) requireUser(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(w, r)
		if err != nil {
			return err
		}
		if p.Kind != token.User {
			return errorf(http.StatusForbidden, "this route needs a user (em_live_) token")
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// requireAgent admits the ag_live_ token of the agent named in the path,
// and nobody else: an agent reaches only its own routes.
func (s *Server) requireAgent(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(w, r)
		if err != nil {
			return err
		}
		if p.Kind != token.Agent {
			return errorf(http.StatusForbidden, "this route needs the agent's own (ag_live_) token")
		}
		if p.AgentID != r.PathValue("agent_id") {
			return errorf(http.StatusForbidden, "this token belongs to another agent")
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// access is what a caller wants to do with a batch or its runs.
type access int

const (
	// view: the batch's owner, its project's owner, or a recipient.
	view access = iota
	// control (rerun, stop): the batch's owner, or a recipient of its
	// project who is not the project's owner. A project's owner never
	// thereby gets to launch or stop processes on the host of a recipient
	// who recorded into it, whatever the recipient list holds (sharing with
	// oneself is refused, and a list from before that rule is not trusted).
	control
)

// mayUseBatch reports whether the user may view or control the batch.
func (s *Server) mayUseBatch(ctx context.Context, userID string, b store.Batch, want access) (bool, error) {
	if b.OwnerID == userID {
		return true, nil
	}
	p, err := s.store.Project(ctx, b.Project)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if p.OwnerID == userID {
		return want == view, nil
	}
	for _, id := range p.RecipientIDs {
		if id == userID {
			return true, nil
		}
	}
	return false, nil
}
