package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Core is what the UI asks of the server. Every decision about who may
// see or do what is made there, by the same code the API runs: the UI
// renders, keeps sessions and checks forms, and nothing more. Methods
// that take ctx read the signed-in user from it (Session puts it there).
type Core interface {
	// SignIn checks a pasted token as the API authenticates one (shape
	// and checksum first, then the store, under the failed-attempt
	// budget of r's address) and admits a user token only. A refusal
	// for the person at the keyboard is a *Refusal; past the budget, a
	// Refusal with code 429 (Retry-After is set on w).
	SignIn(w http.ResponseWriter, r *http.Request, raw string) (SignedIn, error)
	// Session re-checks a session on every request: its token (by hash)
	// must still be live and the user's, and the user must not have
	// signed out since issued. ok false: the session is over. The
	// request returned carries the user for the other methods and the
	// access log.
	Session(r *http.Request, tokenHash, userID string, issued time.Time) (*http.Request, bool, error)
	// SignOut ends every session of the user issued up to now.
	SignOut(ctx context.Context, userID string) error

	// Batch and Run read one the user may see; control asks that the
	// user may also rerun and stop it (owner or project recipient).
	Batch(ctx context.Context, id string, control bool) (store.Batch, error)
	Run(ctx context.Context, id string, control bool) (store.Run, error)
	// Agent reads one of the user's own agents (others' are not found:
	// agents are listed to their owner only).
	Agent(ctx context.Context, id string) (store.Agent, error)
	// Describe is a run as the API shows it (a queued one says why it
	// waits).
	Describe(ctx context.Context, run store.Run) (api.Run, error)
	// MayControl says whether the user may rerun b and stop its runs.
	MayControl(ctx context.Context, b store.Batch) (bool, error)
	// RerunTarget is the agent a rerun of b would go to now; ok false
	// when none is online (a rerun would answer 409).
	RerunTarget(ctx context.Context, b store.Batch) (a store.Agent, ok bool, err error)
	// Rerun queues a rerun of b for the user, as the API's rerun does.
	Rerun(ctx context.Context, b store.Batch) (api.Queued, error)
	// Stop stops (or cancels, while queued) a run for the user, with the
	// agent's default grace, as the API's stop does.
	Stop(ctx context.Context, run store.Run, reason string) (api.Queued, error)
	// ServeRunLog answers the API's log read of a run the caller has
	// already found visible.
	ServeRunLog(w http.ResponseWriter, r *http.Request, runID string) error

	// Runs is one page of the runs the user may see, as the API shows
	// them (queued ones say why they wait).
	Runs(ctx context.Context, f store.RunFilter, p store.Page) ([]api.Run, bool, error)
	// Agents are agents as the API shows them, each with its last
	// resources report.
	Agents(ctx context.Context, agents []store.Agent) ([]api.Agent, error)
	// Store is for reads whose visibility rule the store applies itself
	// (the user's batches, agents, runs) or that a Core method checked.
	Store() store.Store
	// UserName is a user's name by id, cached.
	UserName(ctx context.Context, id string) (string, error)

	// Page reads ?limit= and ?cursor= of list (the API's lists: "batches",
	// "runs", "agents"); Cursor is the cursor of the page after key.
	Page(q url.Values, list string) (store.Page, error)
	Cursor(list string, key store.Key) string
	// Statuses are the run statuses a filter may name.
	Statuses() []api.RunStatus

	// Answer is how to answer err: its status and a message for the
	// person. Store failures are logged and hidden ("internal error");
	// an unwritable database sets Retry-After on w. gone: the client
	// went away, nothing to answer.
	Answer(w http.ResponseWriter, r *http.Request, err error) (code int, msg string, gone bool)
	// Now is the server's clock.
	Now() time.Time
}

// List names of Core.Page and Core.Cursor.
const (
	ListBatches = "batches"
	ListRuns    = "runs"
	ListAgents  = "agents"
)

// SignedIn is a token admitted for a session: its hash and its user.
type SignedIn struct {
	TokenHash, UserID string
}

// Refusal is a refused sign-in or form, worded for the person; Code is
// its HTTP status.
type Refusal struct {
	Code int
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

// refuse is a Refusal made here.
func refuse(code int, format string, args ...any) error {
	return &Refusal{Code: code, Msg: fmt.Sprintf(format, args...)}
}
