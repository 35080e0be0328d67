package server

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/token"
)

// Who is acting: the user name behind a request, for the access log line
// (observe in metrics.go) and for what a run records (requested_by,
// stopped_by). Only names and ids are kept, never a token.

// actor is filled in by authentication (API tokens and web sessions) for
// the access-log line that observe writes after the request. It is a
// pointer in the request's context because observe wraps the mux from the
// outside and never sees the contexts the handlers derive.
type actor struct {
	mu sync.Mutex
	p  principal
	ok bool
}

type actorKey struct{}

// withActor gives the request a place for its actor.
func withActor(ctx context.Context) (context.Context, *actor) {
	a := &actor{}
	return context.WithValue(ctx, actorKey{}, a), a
}

// noteActor records who the request turned out to be.
func noteActor(ctx context.Context, p principal) {
	if a, ok := ctx.Value(actorKey{}).(*actor); ok {
		a.mu.Lock()
		a.p, a.ok = p, true
		a.mu.Unlock()
	}
}

// logActor adds the acting user's name (and, for an agent token, the
// agent's id) to an access-log event; nothing for unauthenticated requests.
func (s *Server) logActor(ctx context.Context, ev *zerolog.Event, a *actor) {
	a.mu.Lock()
	p, ok := a.p, a.ok
	a.mu.Unlock()
	if !ok || !ev.Enabled() {
		return
	}
	// The request is over and its context may be cancelled; a name not yet
	// cached still deserves a lookup, but a short one.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	name, err := s.userName(ctx, p.UserID)
	if err != nil {
		name = p.UserID // an id names the user too, and is no secret
	}
	ev.Str("user", name)
	if p.Kind == token.Agent {
		ev.Str("agent_id", p.AgentID)
	}
}

// userName is the name of user id. Users are never renamed nor deleted, so
// a name once read is good for the life of the process, on every replica.
func (s *Server) userName(ctx context.Context, id string) (string, error) {
	if n, ok := s.names.Load(id); ok {
		return n.(string), nil
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return "", err
	}
	s.names.Store(id, u.Name)
	return u.Name, nil
}

// callerName is the name of the user the request authenticated as.
func (s *Server) callerName(ctx context.Context) (string, error) {
	p, _ := principalFrom(ctx)
	return s.userName(ctx, p.UserID)
}
