package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// The UI's HTML, CSS and its one script are compiled into the binary: the
// server needs no asset directory, and the pages load nothing from
// anywhere else (no CDN), which the Content-Security-Policy below enforces.
//
//go:embed templates/*.html static/style.css static/run.js static/live.js
var uiFiles embed.FS

// parse reads the embedded pages and static files into u.
func (u *UI) parse() {
	u.pages = map[string]*template.Template{}
	// base is the server's --base-path: every link, form and script of
	// a page starts with it.
	base := func() string { return u.cfg.BasePath }
	funcs := template.FuncMap{"when": when, "ago": ago, "iso": iso, "base": base}
	for _, page := range []string{"login.html", "home.html", "batch.html", "run.html", "host.html", "error.html"} {
		// Each page is its own set with the layout, so every page can
		// define the same "title" and "content" blocks.
		u.pages[page] = template.Must(template.New(page).Funcs(funcs).
			ParseFS(uiFiles, "templates/layout.html", "templates/parts.html", "templates/"+page))
	}
	u.css = mustRead("static/style.css")
	u.js = mustRead("static/run.js")
	u.live = mustRead("static/live.js")
}

func mustRead(name string) []byte {
	b, err := uiFiles.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return b
}

// page is what every template gets: the layout's fields and the page's own.
type page struct {
	Title string
	User  string // signed-in user's name; empty on the login page
	CSRF  string
	Flash *flash
	// Refresh is the page's own URL without the flash: live.js re-reads
	// it every 5 s and swaps the sections marked data-live in place
	// (new heartbeats, run states); without JavaScript a <noscript> meta
	// refresh reloads it. Empty: the page does not refresh.
	Refresh string
	// Script is a script of the page's own (a path on this server), loaded
	// after live.js, which every page loads; every page works without
	// JavaScript too.
	Script string
	Data   any
}

// uiHeaders is set on every UI answer. CSP default-src 'self' bars inline
// and third-party scripts (so injected markup cannot run), frame-ancestors
// and X-Frame-Options bar clickjacking of the Rerun and Stop buttons,
// form-action keeps forms posting here.
func uiHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 rather than half a page.
func (u *UI) render(w http.ResponseWriter, code int, name string, p page) error {
	html, err := u.execute(name, p)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(html)
	return nil
}

// renderLive answers a page that live.js re-reads every few seconds. Its
// ETag is a digest of the page as rendered, so a re-read that finds the
// page as it was is a 304 without a body: an idle page costs a few
// hundred bytes a refresh rather than its size (the home and host pages
// change every second while an agent is online: "2s ago"). The digest
// covers the whole page, CSRF token and user name included, so it never
// matches another session's page.
func (u *UI) renderLive(w http.ResponseWriter, r *http.Request, name string, p page) error {
	html, err := u.execute(name, p)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(html)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("ETag", `"`+b64.EncodeToString(sum[:18])+`"`)
	// ServeContent answers If-None-Match (304) and HEAD as net/http does
	// for files; the zero time keeps it from sending Last-Modified.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(html))
	return nil
}

func (u *UI) execute(name string, p page) ([]byte, error) {
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// handlerFunc is a page or form handler; an error becomes an error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap sets the UI's headers and turns a handler's error into an error
// page, never JSON: refusals made here say why, the rest is classified
// by the server (Core.Answer), which hides its own failures.
func (u *UI) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uiHeaders(w)
		err := h(w, r)
		if err == nil {
			return
		}
		code, msg := 0, ""
		var rf *Refusal
		if errors.As(err, &rf) {
			code, msg = rf.Code, rf.Msg
		} else {
			var gone bool
			if code, msg, gone = u.core.Answer(w, r, err); gone {
				return
			}
		}
		data := struct {
			Code int
			Msg  string
		}{code, msg}
		if rerr := u.render(w, code, "error.html", page{Title: http.StatusText(code), Data: data}); rerr != nil {
			http.Error(w, msg, code)
		}
	}
}

func (u *UI) handleCSS(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, "text/css; charset=utf-8", u.css)
}

func (u *UI) handleJS(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, "text/javascript; charset=utf-8", u.js)
}

func (u *UI) handleLiveJS(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, "text/javascript; charset=utf-8", u.live)
}

func serveStatic(w http.ResponseWriter, contentType string, body []byte) {
	uiHeaders(w)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(body)
}

// when formats a time (or *time.Time) in UTC with its zone, the CLI's
// layout; "—" when unset. live.js shows it in the reader's own zone.
func when(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(api.TimeLayout)
}

// iso is the time in RFC 3339 for <time datetime> and the hover text; ""
// when unset.
func iso(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case *time.Time:
		if x != nil {
			return *x
		}
	}
	return time.Time{}
}

// ago says how long since t, coarsely, for heartbeats.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Hour:
		return d.String() + " ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return when(t)
}
