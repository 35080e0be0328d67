package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/ui"
	"github.com/argus-exec/argus/token"
)

// uiCore is the server as the web UI (package ui) sees it: the API's own
// authentication, visibility rules, queueing and agent choice, behind a
// small interface, so that the UI and the API share one authorisation
// path.
type uiCore struct{ s *Server }

var _ ui.Core = uiCore{}

// newUI builds the web UI over the server.
func (s *Server) newUI() *ui.UI {
	return ui.New(ui.Config{
		Core: uiCore{s}, Key: s.cfg.SessionKey, SessionTTL: s.cfg.SessionTTL,
		SecureCookies: s.cfg.SecureCookies, MaxFormBytes: s.cfg.MaxBodyBytes, BasePath: s.cfg.BasePath,
	})
}

func (c uiCore) SignIn(w http.ResponseWriter, r *http.Request, raw string) (ui.SignedIn, error) {
	kind, perr := token.Parse(raw)
	t, wait, err := c.s.attempt(r, raw, kind, perr, signInShape(kind, perr))
	switch {
	case wait > 0:
		refusal := &ui.Refusal{Code: http.StatusTooManyRequests, Msg: "too many failed sign-ins from your address: try again later"}
		var he *httpError
		if errors.As(c.s.throttled(w, "web", wait), &he) { // sets Retry-After
			refusal.Msg = he.msg
		}
		return ui.SignedIn{}, refusal
	case errors.Is(err, errRejected):
		return ui.SignedIn{}, errTokenRejected
	case err != nil:
		return ui.SignedIn{}, err
	}
	return ui.SignedIn{TokenHash: t.Hash, UserID: t.UserID}, nil
}

// signInShape is the sign-in's verdict on a pasted token before any
// lookup: a refusal for the person at the keyboard, or nil to look it up.
func signInShape(kind token.Kind, perr error) error {
	refused := func(msg string) error { return &ui.Refusal{Code: http.StatusUnauthorized, Msg: msg} }
	switch {
	case errors.Is(perr, token.ErrChecksum):
		return refused("that token's checksum does not match: check for a typo or a truncated paste")
	case perr != nil:
		return refused("that is not a token: paste your em_live_… token")
	case kind != token.User:
		return refused("that is an agent (ag_live_) token: sign in with your own em_live_… token")
	}
	return nil
}

// errTokenRejected covers unknown and revoked alike, as the API does.
var errTokenRejected = &ui.Refusal{Code: http.StatusUnauthorized, Msg: "that token is unknown or revoked"}

func (c uiCore) Session(r *http.Request, tokenHash, userID string, issued time.Time) (*http.Request, bool, error) {
	s := c.s
	t, err := s.matchToken(r.Context(), tokenHash, token.User)
	if errors.Is(err, errRejected) || (err == nil && t.UserID != userID) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	s.touchToken(t.ID, s.cfg.Now())
	// A sign-out (anywhere) ends every session of the user issued before
	// it: a copied cookie dies with the one signed out.
	u, err := s.store.UserByID(r.Context(), userID)
	if err != nil {
		return r, false, err
	}
	if !u.SessionsBefore.IsZero() && issued.UnixMicro() <= u.SessionsBefore.UnixMicro() {
		return r, false, nil
	}
	s.names.Store(u.ID, u.Name) // read anyway: spares the access log a lookup
	p := principal{TokenID: t.ID, Kind: token.User, UserID: t.UserID}
	noteActor(r.Context(), p)
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), true, nil
}

func (c uiCore) SignOut(ctx context.Context, userID string) error {
	return c.s.store.EndSessions(ctx, userID, c.s.cfg.Now())
}

func (c uiCore) Batch(ctx context.Context, id string, mayControl bool) (store.Batch, error) {
	return c.s.visibleBatch(ctx, id, accessOf(mayControl))
}

func (c uiCore) Run(ctx context.Context, id string, mayControl bool) (store.Run, error) {
	return c.s.visibleRun(ctx, id, accessOf(mayControl))
}

func accessOf(mayControl bool) access {
	if mayControl {
		return control
	}
	return view
}

func (c uiCore) Agent(ctx context.Context, id string) (store.Agent, error) {
	p, _ := principalFrom(ctx)
	a, err := c.s.store.Agent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.UserID != p.UserID) {
		return store.Agent{}, errorf(http.StatusNotFound, "no agent %s among yours", id)
	}
	return a, err
}

func (c uiCore) Describe(ctx context.Context, run store.Run) (api.Run, error) {
	out := run.API()
	return out, c.s.describeQueued(ctx, &out)
}

func (c uiCore) MayControl(ctx context.Context, b store.Batch) (bool, error) {
	p, _ := principalFrom(ctx)
	return c.s.mayUseBatch(ctx, p.UserID, b, control)
}

func (c uiCore) RerunTarget(ctx context.Context, b store.Batch) (store.Agent, bool, error) {
	a, err := c.s.pickAgent(ctx, b, "")
	var he *httpError
	if errors.As(err, &he) && he.code == http.StatusConflict {
		return store.Agent{}, false, nil
	}
	return a, err == nil, err
}

func (c uiCore) Rerun(ctx context.Context, b store.Batch) (api.Queued, error) {
	by, err := c.s.callerName(ctx)
	if err != nil {
		return api.Queued{}, err
	}
	return c.s.queueRerun(ctx, b, "", by, 0, nil)
}

func (c uiCore) Stop(ctx context.Context, run store.Run, reason string) (api.Queued, error) {
	if err := checkReason(reason); err != nil {
		return api.Queued{}, err
	}
	by, err := c.s.callerName(ctx)
	if err != nil {
		return api.Queued{}, err
	}
	return c.s.queueStop(ctx, run, stopAsk{by: by, reason: reason})
}

func (c uiCore) ServeRunLog(w http.ResponseWriter, r *http.Request, runID string) error {
	return c.s.serveRunLog(w, r, runID)
}

func (c uiCore) Runs(ctx context.Context, f store.RunFilter, pg store.Page) ([]api.Run, bool, error) {
	p, _ := principalFrom(ctx)
	runs, more, err := c.s.store.ListRunsForUser(ctx, p.UserID, f, pg)
	if err != nil {
		return nil, false, err
	}
	out, err := c.s.apiRuns(ctx, runs)
	return out, more, err
}

func (c uiCore) Agents(ctx context.Context, agents []store.Agent) ([]api.Agent, error) {
	return c.s.apiAgents(ctx, agents)
}

func (c uiCore) Store() store.Store { return c.s.store }

func (c uiCore) UserName(ctx context.Context, id string) (string, error) {
	return c.s.userName(ctx, id)
}

// uiLists maps the UI's list names to the API's cursor kinds.
var uiLists = map[string]listKind{ui.ListBatches: listBatches, ui.ListRuns: listRuns, ui.ListAgents: listAgents}

func (c uiCore) Page(q url.Values, list string) (store.Page, error) {
	return parsePage(q, uiLists[list])
}

func (c uiCore) Cursor(list string, key store.Key) string { return encodeCursor(uiLists[list], key) }

func (c uiCore) Statuses() []api.RunStatus { return runStatuses }

func (c uiCore) Answer(w http.ResponseWriter, r *http.Request, err error) (int, string, bool) {
	return c.s.answer(w, r, err)
}

func (c uiCore) Now() time.Time { return c.s.cfg.Now() }
