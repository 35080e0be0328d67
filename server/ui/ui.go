// Package ui is argus-server's web UI: server-rendered pages (home, host,
// batch, run), sign-in sessions, the CSRF defence of its forms, and the
// small scripts and stylesheet the pages load, all compiled into the
// binary. It holds no rule of its own about who may see or do what:
// every read of a batch, run or agent and every Rerun and Stop goes
// through Core, which package server implements with the same code as
// its API, so the browser can never do more than the user's token could.
//
// Not here: the API and authentication (package server), storage
// (server/store), the API's types (server/api).
package ui

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Config is what the UI needs besides its Core.
type Config struct {
	Core Core
	// Key signs session cookies, CSRF tokens and flash messages; empty:
	// a random key for this process (sessions end with it).
	Key []byte
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// SecureCookies marks session cookies Secure even over plain HTTP, for
	// a server behind a TLS-terminating proxy.
	SecureCookies bool
	// MaxFormBytes bounds a form's body.
	MaxFormBytes int64
	// BasePath is the path the server is served under ("/argus"; "" for
	// the root): the routes see paths without it, the pages, redirects
	// and the cookie carry it.
	BasePath string
}

// UI is the web UI's handlers and state.
type UI struct {
	core  Core
	cfg   Config
	key   []byte
	pages map[string]*template.Template
	css   []byte
	js    []byte // run.js, the run page's live output
	live  []byte // live.js, every page's local times and in-place refresh
}

// New builds the UI; Register mounts it.
func New(cfg Config) *UI {
	u := &UI{core: cfg.Core, cfg: cfg, key: newKey(cfg.Key)}
	u.parse()
	return u
}

// Register adds the UI's routes to mux.
func (u *UI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", u.wrap(u.handleLoginPage))
	mux.HandleFunc("POST /login", u.wrap(u.handleLogin))
	mux.HandleFunc("POST /logout", u.requireSession(u.handleLogout))
	mux.HandleFunc("GET /{$}", u.requireSession(u.handleHome))
	mux.HandleFunc("GET /ui/batches/{id}", u.requireSession(u.handleBatchPage))
	mux.HandleFunc("GET /ui/agents/{id}", u.requireSession(u.handleHostPage))
	mux.HandleFunc("POST /ui/batches/{id}/rerun", u.requireSession(u.handleRerun))
	mux.HandleFunc("GET /ui/runs/{run_id}", u.requireSession(u.handleRunPage))
	mux.HandleFunc("GET /ui/runs/{run_id}/log", u.requireSession(u.handleRunLog))
	mux.HandleFunc("POST /ui/runs/{run_id}/stop", u.requireSession(u.handleStop))
	mux.HandleFunc("GET /ui/static/style.css", u.handleCSS)
	mux.HandleFunc("GET /ui/static/run.js", u.handleJS)
	mux.HandleFunc("GET /ui/static/live.js", u.handleLiveJS)
}

func (u *UI) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := u.currentSession(r); err == nil && ok {
		http.Redirect(w, r, u.path("/"), http.StatusSeeOther)
		return nil
	}
	return u.render(w, http.StatusOK, "login.html", page{Title: "Sign in"})
}

func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := u.parseForm(w, r); err != nil {
		return err
	}
	// No session yet, so no CSRF token: the origin check is what stops a
	// cross-site page from signing the browser into another account.
	if !sameOrigin(r) {
		return refuse(http.StatusForbidden, "refused: the sign-in form was not sent from a page of this server")
	}
	sess, err := u.login(w, r, r.PostFormValue("token"))
	var rf *Refusal
	if errors.As(err, &rf) {
		// A wrong token is 401; too many of them 429 (Retry-After is set).
		return u.render(w, rf.Code, "login.html", page{Title: "Sign in", Flash: &flash{Msg: rf.Msg, Error: true}})
	}
	if err != nil {
		return err
	}
	u.setSessionCookie(w, r, sess)
	http.Redirect(w, r, u.path("/"), http.StatusSeeOther)
	return nil
}

func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := u.checkForm(w, r, sess); err != nil {
		return err
	}
	// Deleting the cookie is not enough: a copy of it (another browser,
	// a proxy log) must stop working too.
	if err := u.core.SignOut(r.Context(), sess.UserID); err != nil {
		return err
	}
	u.clearSessionCookie(w, r)
	http.Redirect(w, r, u.path("/login"), http.StatusSeeOther)
	return nil
}

// base fills the layout's fields for a signed-in page.
func (u *UI) base(r *http.Request, sess session, title string) (page, error) {
	name, err := u.core.UserName(r.Context(), sess.UserID)
	return page{
		Title: title, User: name,
		CSRF: u.csrfToken(sess), Flash: u.flashFrom(r, sess),
	}, err
}

func (u *UI) handleRerun(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := u.checkForm(w, r, sess); err != nil {
		return err
	}
	id := r.PathValue("id")
	b, err := u.core.Batch(r.Context(), id, true)
	var q api.Queued
	if err == nil {
		q, err = u.core.Rerun(r.Context(), b)
	}
	return u.afterForm(w, r, sess, batchQuery{id: id}.url(), err, "rerun queued as "+q.RunID)
}

func (u *UI) handleStop(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := u.checkForm(w, r, sess); err != nil {
		return err
	}
	// The agent's default grace: the form offers no other.
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	run, err := u.core.Run(r.Context(), r.PathValue("run_id"), true)
	if err == nil {
		_, err = u.core.Stop(r.Context(), run, reason)
	}
	// Back to the page the form was on: the run page sends back=run.
	back := ""
	switch {
	case run.ID != "" && r.PostFormValue("back") == "run":
		back = runURL(run.ID)
	case run.BatchID != "":
		back = batchQuery{id: run.BatchID}.url()
	}
	return u.afterForm(w, r, sess, back, err, "stop queued for "+run.ID)
}

// afterForm redirects (303) back to the page of the form (back, a path
// built from ids; "" when there is none) with a flash: the success
// message, or the refusal for 400 (a stop reason too long, say), 403 and
// 409. Anything else (404, store failures) is an error page.
func (u *UI) afterForm(w http.ResponseWriter, r *http.Request, sess session, back string, err error, ok string) error {
	f := flash{Msg: ok}
	if err != nil {
		code, msg, gone := u.core.Answer(w, r, err)
		flashed := map[int]bool{http.StatusBadRequest: true, http.StatusForbidden: true, http.StatusConflict: true}
		if gone || !flashed[code] || back == "" {
			// Answered already (and logged, if it was the server's
			// fault): wrap only renders it.
			return &Refusal{Code: code, Msg: msg}
		}
		f = flash{Msg: msg, Error: true}
	}
	http.Redirect(w, r, u.path(back)+"?"+u.flashQuery(sess, f), http.StatusSeeOther)
	return nil
}

// maxPageLimit is the largest ?limit= a page takes: a page re-reads itself
// every 5 s, and the API's 1000 a list would make each tab a load.
const maxPageLimit = 200

// page reads a list's ?limit= and ?cursor= as the API does, with the
// UI's own cap on the page size.
func (u *UI) page(q url.Values, list string) (store.Page, error) {
	pg, err := u.core.Page(q, list)
	if err == nil && pg.Limit > maxPageLimit {
		err = refuse(http.StatusBadRequest, "limit is %d: pages show at most %d a list", pg.Limit, maxPageLimit)
	}
	return pg, err
}

// path is p (a path of the UI, "/ui/…") as the browser must ask for it:
// under the server's base path.
func (u *UI) path(p string) string { return u.cfg.BasePath + p }
