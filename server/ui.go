package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/argus-exec/argus/server/api"
)

// The web UI: server-rendered pages over the same authorisation
// (visibleBatch, visibleRun, mayUseBatch) and the same rerun/stop logic
// (queueRerun, queueStop) as the API, so the browser can never do more
// than the user's token could. The batch page: ui_batch.go; sessions:
// ui_session.go; CSRF: ui_csrf.go; templates and headers: ui_templates.go.

// uiRoutes adds the UI to mux; routes.go calls it.
func (s *Server) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", s.uiWrap(s.handleLoginPage))
	mux.HandleFunc("POST /login", s.uiWrap(s.handleLogin))
	mux.HandleFunc("POST /logout", s.requireSession(s.handleLogout))
	mux.HandleFunc("GET /{$}", s.requireSession(s.handleHome))
	mux.HandleFunc("GET /ui/batches/{id}", s.requireSession(s.handleBatchPage))
	mux.HandleFunc("GET /ui/agents/{id}", s.requireSession(s.handleHostPage))
	mux.HandleFunc("POST /ui/batches/{id}/rerun", s.requireSession(s.handleUIRerun))
	mux.HandleFunc("GET /ui/runs/{run_id}", s.requireSession(s.handleRunPage))
	mux.HandleFunc("GET /ui/runs/{run_id}/log", s.requireSession(s.handleUIRunLog))
	mux.HandleFunc("POST /ui/runs/{run_id}/stop", s.requireSession(s.handleUIStop))
	mux.HandleFunc("GET /ui/static/style.css", s.handleCSS)
	mux.HandleFunc("GET /ui/static/run.js", s.handleJS)
	mux.HandleFunc("GET /ui/static/live.js", s.handleLiveJS)
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := s.currentSession(r); err == nil && ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, http.StatusOK, "login.html", page{Title: "Sign in"})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(w, r); err != nil {
		return err
	}
	// No session yet, so no CSRF token: the origin check is what stops a
	// cross-site page from signing the browser into another account.
	if !sameOrigin(r) {
		return errorf(http.StatusForbidden, "refused: the sign-in form was not sent from a page of this server")
	}
	sess, err := s.login(w, r, r.PostFormValue("token"))
	var he *httpError
	if errors.As(err, &he) && he.code == http.StatusTooManyRequests { // Retry-After is set
		return s.render(w, he.code, "login.html", page{Title: "Sign in", Flash: &flash{Msg: he.msg, Error: true}})
	}
	if err != nil && !isStoreFailure(err) {
		return s.render(w, http.StatusUnauthorized, "login.html",
			page{Title: "Sign in", Flash: &flash{Msg: err.Error(), Error: true}})
	}
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, sess)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// isStoreFailure tells a database error (500) from a refused token (401,
// a loginError with a message for the user).
func isStoreFailure(err error) bool {
	var le loginError
	return !errors.As(err, &le)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.checkForm(w, r, sess); err != nil {
		return err
	}
	// Deleting the cookie is not enough: a copy of it (another browser,
	// a proxy log) must stop working too.
	if err := s.store.EndSessions(r.Context(), sess.UserID, s.cfg.Now()); err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// base fills the layout's fields for a signed-in page.
func (s *Server) base(r *http.Request, sess session, title string) page {
	return page{
		Title: title, User: s.userNames(r.Context()).of(sess.UserID),
		CSRF: s.ui.csrfToken(sess), Flash: s.ui.flashFrom(r, sess), Refresh: refreshURL(r),
	}
}

// refreshURL is where a page reloads itself, built from known parts rather
// than copied from the request: it lands in a meta refresh, where the
// template escapes it as text, not as a checked URL.
func refreshURL(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return "/ui/batches/" + url.PathEscape(id)
	}
	return "/"
}

func (s *Server) handleUIRerun(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.checkForm(w, r, sess); err != nil {
		return err
	}
	id := r.PathValue("id")
	b, err := s.visibleBatch(r.Context(), id, control)
	var q api.Queued
	by, nerr := s.userName(r.Context(), sess.UserID)
	if nerr != nil {
		return nerr
	}
	if err == nil {
		q, err = s.queueRerun(r.Context(), b, "", by, 0, nil)
	}
	return s.afterForm(w, r, sess, batchQuery{id: id}.url(), err, "rerun queued as "+q.RunID)
}

func (s *Server) handleUIStop(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.checkForm(w, r, sess); err != nil {
		return err
	}
	by, err := s.userName(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	// The agent's default grace: the form offers no other.
	ask := stopAsk{by: by, reason: strings.TrimSpace(r.PostFormValue("reason"))}
	run, err := s.visibleRun(r.Context(), r.PathValue("run_id"), control)
	if err == nil {
		err = checkReason(ask.reason)
	}
	if err == nil {
		_, err = s.queueStop(r.Context(), run, ask)
	}
	// Back to the page the form was on: the run page sends back=run.
	back := ""
	switch {
	case run.ID != "" && r.PostFormValue("back") == "run":
		back = runURL(run.ID)
	case run.BatchID != "":
		back = batchQuery{id: run.BatchID}.url()
	}
	return s.afterForm(w, r, sess, back, err, "stop queued for "+run.ID)
}

// afterForm redirects (303) back to the page of the form (back, a path
// built from ids; "" when there is none) with a flash: the success
// message, or the refusal for 400 (a stop reason too long, say), 403 and
// 409. Anything else (404, store failures) is an error page.
func (s *Server) afterForm(w http.ResponseWriter, r *http.Request, sess session, back string, err error, ok string) error {
	f := flash{Msg: ok}
	if err != nil {
		var he *httpError
		flashed := map[int]bool{http.StatusBadRequest: true, http.StatusForbidden: true, http.StatusConflict: true}
		if !errors.As(err, &he) || !flashed[he.code] || back == "" {
			return err
		}
		f = flash{Msg: he.msg, Error: true}
	}
	http.Redirect(w, r, back+"?"+s.ui.flashQuery(sess, f), http.StatusSeeOther)
	return nil
}
