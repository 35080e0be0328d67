package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// The web UI: server-rendered pages over the same authorisation
// (visibleBatch, visibleRun, mayUseBatch) and the same rerun/stop logic
// (queueRerun, queueStop) as the API, so the browser can never do more
// than the user's token could. Sessions: ui_session.go; CSRF: ui_csrf.go;
// templates and headers: ui_templates.go.

// uiRoutes adds the UI to mux; routes.go calls it.
func (s *Server) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", s.uiWrap(s.handleLoginPage))
	mux.HandleFunc("POST /login", s.uiWrap(s.handleLogin))
	mux.HandleFunc("POST /logout", s.requireSession(s.handleLogout))
	mux.HandleFunc("GET /{$}", s.requireSession(s.handleHome))
	mux.HandleFunc("GET /ui/batches/{id}", s.requireSession(s.handleBatchPage))
	mux.HandleFunc("POST /ui/batches/{id}/rerun", s.requireSession(s.handleUIRerun))
	mux.HandleFunc("POST /ui/runs/{run_id}/stop", s.requireSession(s.handleUIStop))
	mux.HandleFunc("GET /ui/static/style.css", s.handleCSS)
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

type hostRow struct {
	api.Agent
	LastSeen time.Time
}

type batchRow struct {
	api.Batch
	Command string
}

// homeQuery is the home page's place in its two lists: one page size for
// both, and a cursor each (cursor for batches, hosts_cursor for hosts).
type homeQuery struct {
	limit         int // 0: the default, left out of links
	batches, host string
}

// url is the home page at q, built from validated parts only (it lands in
// links and in the meta refresh).
func (q homeQuery) url() string {
	v := url.Values{}
	if q.limit != 0 {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	if q.batches != "" {
		v.Set("cursor", q.batches)
	}
	if q.host != "" {
		v.Set("hosts_cursor", q.host)
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// homeLinks are the home page's paging links; empty ones are not shown.
type homeLinks struct {
	OlderHosts, OlderBatches, Newest string
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request, sess session) error {
	q := r.URL.Query()
	batchPage, err := parsePage(q, listBatches)
	if err != nil {
		return err
	}
	hostPage := store.Page{Limit: batchPage.Limit}
	hostCursor, err := single(q, "hosts_cursor", maxCursorLen)
	if err != nil {
		return err
	}
	if hostCursor != "" {
		k, ok := decodeCursor(listAgents, hostCursor)
		if !ok {
			return errorf(http.StatusBadRequest, "hosts_cursor is not one this page handed out: start again from the home page")
		}
		hostPage.After = &k
	}
	at := homeQuery{batches: q.Get("cursor"), host: hostCursor}
	if q.Get("limit") != "" {
		at.limit = batchPage.Limit
	}

	agents, moreAgents, err := s.store.ListAgents(r.Context(), sess.UserID, hostPage)
	if err != nil {
		return err
	}
	batches, moreBatches, err := s.store.ListBatches(r.Context(), sess.UserID, batchPage)
	if err != nil {
		return err
	}
	names := s.userNames(r.Context())
	data := struct {
		Hosts   []hostRow
		Batches []batchRow
		Links   homeLinks
	}{}
	for _, a := range agents {
		data.Hosts = append(data.Hosts, hostRow{Agent: s.toAPIAgent(a), LastSeen: a.LastHeartbeat})
	}
	for _, b := range batches {
		data.Batches = append(data.Batches, batchRow{Batch: toAPIBatch(b, names.of(b.OwnerID)), Command: commandText(b.Snapshot.Command)})
	}
	// Each list pages on its own: a link moves one list and keeps the
	// other where it is.
	if moreAgents {
		next := at
		next.host = encodeCursor(listAgents, agents[len(agents)-1].Key())
		data.Links.OlderHosts = next.url()
	}
	if moreBatches {
		next := at
		next.batches = encodeCursor(listBatches, batches[len(batches)-1].Key())
		data.Links.OlderBatches = next.url()
	}
	if at.batches != "" || at.host != "" {
		data.Links.Newest = homeQuery{limit: at.limit}.url()
	}
	p := s.base(r, sess, "Hosts and batches")
	p.Refresh = at.url()
	p.Data = data
	return s.render(w, http.StatusOK, "home.html", p)
}

func (s *Server) handleBatchPage(w http.ResponseWriter, r *http.Request, sess session) error {
	ctx := r.Context()
	b, err := s.visibleBatch(ctx, r.PathValue("id"), view)
	if err != nil {
		return err
	}
	runs, err := s.store.ListRuns(ctx, b.ID)
	if err != nil {
		return err
	}
	owner := s.userNames(ctx).of(b.OwnerID)
	data := struct {
		Batch      batchRow
		Runs       []api.Run
		CanControl bool
		RerunOff   string // why Rerun is greyed out; empty when it is not
	}{Batch: batchRow{Batch: toAPIBatch(b, owner), Command: commandText(b.Snapshot.Command)}}
	for _, run := range runs {
		data.Runs = append(data.Runs, toAPIRun(run))
	}
	if err := s.describeRuns(ctx, data.Runs); err != nil {
		return err
	}
	if data.CanControl, err = s.mayUseBatch(ctx, sess.UserID, b, control); err != nil {
		return err
	}
	if !data.CanControl {
		data.RerunOff = "you may view this batch, but only its owner (" + owner + ") or a recipient of project " + b.Project + " may rerun or stop it"
	} else if _, err := s.pickAgent(ctx, b, ""); err != nil {
		var he *httpError
		if !errors.As(err, &he) || he.code != http.StatusConflict {
			return err
		}
		// The same test a rerun would make, so the button is greyed out
		// exactly when pressing it would be refused with 409.
		data.RerunOff = "no agent of " + owner + " is online on " + b.Snapshot.Host + ": start argus-agent there"
	}
	p := s.base(r, sess, b.Name)
	p.Data = data
	return s.render(w, http.StatusOK, "batch.html", p)
}

func (s *Server) handleUIRerun(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.checkForm(w, r, sess); err != nil {
		return err
	}
	id := r.PathValue("id")
	b, err := s.visibleBatch(r.Context(), id, control)
	var q api.Queued
	if err == nil {
		q, err = s.queueRerun(r.Context(), b, "")
	}
	return s.afterForm(w, r, sess, id, err, "rerun queued as "+q.RunID)
}

func (s *Server) handleUIStop(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.checkForm(w, r, sess); err != nil {
		return err
	}
	run, err := s.visibleRun(r.Context(), r.PathValue("run_id"), control)
	if err == nil {
		_, err = s.queueStop(r.Context(), run, 0) // the agent's default grace
	}
	return s.afterForm(w, r, sess, run.BatchID, err, "stop queued for "+run.ID)
}

// afterForm redirects (303) back to the batch page with a flash: the
// success message, or the refusal for 403 and 409. Anything else (404,
// store failures) is an error page.
func (s *Server) afterForm(w http.ResponseWriter, r *http.Request, sess session, batchID string, err error, ok string) error {
	f := flash{Msg: ok}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) || (he.code != http.StatusForbidden && he.code != http.StatusConflict) || batchID == "" {
			return err
		}
		f = flash{Msg: he.msg, Error: true}
	}
	http.Redirect(w, r, "/ui/batches/"+url.PathEscape(batchID)+"?"+s.ui.flashQuery(sess, f), http.StatusSeeOther)
	return nil
}

// commandText shows a recorded command: a shell string as is, an argv
// list joined with quotes where an argument needs them.
func commandText(c api.CommandLine) string {
	if len(c.Argv) == 0 {
		return c.Shell
	}
	parts := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
